//! The hybrid logical clock, without a clock: the driver passes wall time in.

use std::sync::Mutex;

use hybrid_clocks::{Clock, ManualClock, OffsetLimiter};
use meridian_crdt::Hlc;

/// The hybrid logical clock, fed wall time by the driver.
///
/// In a `Mutex` only so that a replica is `Sync` (hybrid-clocks' manual source keeps its time
/// in a `Cell`), which lets a driver read it from several threads at once under a read lock.
/// Every use goes through `get_mut`, which takes `&mut self` and no lock.
pub(crate) struct HlcClock(Mutex<OffsetLimiter<ManualClock>>);

impl HlcClock {
    pub(crate) fn new(wall: u64, max_ahead_ms: u64) -> HlcClock {
        // A manual clock source reads no time, so creating it cannot fail; fall back to a
        // clock at 0 rather than panic if a future version disagrees.
        let clock = Clock::new(ManualClock::new(wall))
            .or_else(|_| Clock::new(ManualClock::new(0)))
            .map(|c| c.with_max_diff(max_ahead_ms));
        match clock {
            Ok(c) => HlcClock(Mutex::new(c)),
            Err(_) => unreachable!("hybrid-clocks' manual source never fails"),
        }
    }

    /// A fresh stamp, after every stamp made or observed so far.
    pub(crate) fn now(&mut self, wall: u64) -> Hlc {
        let clock = self.clock();
        clock.inner_mut().set_time(wall);
        match clock.now() {
            Ok(t) => t,
            Err(_) => unreachable!("hybrid-clocks' manual source never fails"),
        }
    }

    /// Takes a remote stamp into account; `false` (and the clock left alone) when the stamp is
    /// further ahead of `wall` than the limit.
    pub(crate) fn observe(&mut self, wall: u64, stamp: &Hlc) -> bool {
        let clock = self.clock();
        clock.inner_mut().set_time(wall);
        clock.observe(stamp).is_ok()
    }

    fn clock(&mut self) -> &mut OffsetLimiter<ManualClock> {
        // Poisoning needs a panic while locked, and nothing ever locks it.
        self.0.get_mut().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for HlcClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HlcClock").finish_non_exhaustive()
    }
}
