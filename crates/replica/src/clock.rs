//! The hybrid logical clock, without a clock: the driver passes wall time in.

use hybrid_clocks::{Clock, ManualClock, OffsetLimiter};
use meridian_crdt::Hlc;

/// The hybrid logical clock, fed wall time by the driver.
pub(crate) struct HlcClock(OffsetLimiter<ManualClock>);

impl HlcClock {
    pub(crate) fn new(wall: u64, max_ahead_ms: u64) -> HlcClock {
        // A manual clock source reads no time, so creating it cannot fail; fall back to a
        // clock at 0 rather than panic if a future version disagrees.
        let clock = Clock::new(ManualClock::new(wall))
            .or_else(|_| Clock::new(ManualClock::new(0)))
            .map(|c| c.with_max_diff(max_ahead_ms));
        match clock {
            Ok(c) => HlcClock(c),
            Err(_) => unreachable!("hybrid-clocks' manual source never fails"),
        }
    }

    /// A fresh stamp, after every stamp made or observed so far.
    pub(crate) fn now(&mut self, wall: u64) -> Hlc {
        self.0.inner_mut().set_time(wall);
        match self.0.now() {
            Ok(t) => t,
            Err(_) => unreachable!("hybrid-clocks' manual source never fails"),
        }
    }

    /// Takes a remote stamp into account; `false` (and the clock left alone) when the stamp is
    /// further ahead of `wall` than the limit.
    pub(crate) fn observe(&mut self, wall: u64, stamp: &Hlc) -> bool {
        self.0.inner_mut().set_time(wall);
        self.0.observe(stamp).is_ok()
    }
}

impl std::fmt::Debug for HlcClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HlcClock").finish_non_exhaustive()
    }
}
