//! The runs of a sequence in list order, tombstones included, in chunks of at most
//! [`MAX_RUNS`] runs that count their elements, with an index from each run's first element
//! id to its chunk. Finding the element at a visible position walks the chunks' counts, then
//! one chunk; finding an element by id is one index lookup and one chunk; inserting a run
//! shifts one chunk.

use std::collections::BTreeMap;

use super::ElemId;
use super::run::{Body, Run, SeqContent};

/// Runs per chunk before it splits in two.
const MAX_RUNS: usize = 64;

/// Where an element is, in list order: chunk position, run in the chunk, element in the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Place {
    pub(crate) chunk: usize,
    pub(crate) run: usize,
    pub(crate) off: u32,
}

#[derive(Clone, Debug)]
struct Chunk<C> {
    /// Stable name of the chunk, which the index holds (positions move as chunks split).
    id: usize,
    runs: Vec<Run<C>>,
    visible: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct RunList<C> {
    chunks: Vec<Chunk<C>>,
    /// Chunk id -> position in `chunks`.
    position_of: Vec<usize>,
    /// First element id of every run -> id of the chunk holding it.
    index: BTreeMap<ElemId, usize>,
    visible: u64,
}

/// Runs a full chunk grows by. A chunk holds between half of [`MAX_RUNS`] and all of it,
/// so growing by doubling would leave a third of every chunk's capacity empty on average
/// (a quarter of a long document's memory, at 80 bytes a run); a step of a few runs costs a
/// reallocation every few inserts into the chunk, each copying no more than an insert into
/// the middle of it already moves.
const GROWTH: usize = 8;

/// Makes room in a chunk's runs for one more.
fn make_room<C>(runs: &mut Vec<Run<C>>) {
    if runs.len() == runs.capacity() {
        runs.reserve_exact(GROWTH);
    }
}

impl<C> Default for RunList<C> {
    fn default() -> Self {
        RunList {
            chunks: Vec::new(),
            position_of: Vec::new(),
            index: BTreeMap::new(),
            visible: 0,
        }
    }
}

impl<C: SeqContent> RunList<C> {
    /// A list of `runs` in this order (their ids unique), in chunks three quarters full.
    pub(crate) fn from_runs(runs: Vec<Run<C>>) -> RunList<C> {
        const FILL: usize = MAX_RUNS * 3 / 4;
        let mut list = RunList::default();
        let mut runs = runs.into_iter().peekable();
        while runs.peek().is_some() {
            let id = list.chunks.len();
            let runs: Vec<Run<C>> = runs.by_ref().take(FILL).collect();
            let visible = runs.iter().map(Run::visible).sum();
            for r in &runs {
                list.index.insert(r.id, id);
            }
            list.visible += visible;
            list.position_of.push(id);
            list.chunks.push(Chunk { id, runs, visible });
        }
        list
    }

    /// The runs, in list order, taken out.
    pub(crate) fn into_runs(self) -> impl Iterator<Item = Run<C>> {
        self.chunks.into_iter().flat_map(|c| c.runs)
    }

    /// Elements a reader sees.
    pub(crate) fn visible(&self) -> u64 {
        self.visible
    }

    /// Runs in list order.
    pub(crate) fn runs(&self) -> impl Iterator<Item = &Run<C>> + '_ {
        self.chunks.iter().flat_map(|c| c.runs.iter())
    }

    /// Runs in list order, to change what no count or index depends on.
    pub(crate) fn runs_mut(&mut self) -> impl Iterator<Item = &mut Run<C>> + '_ {
        self.chunks.iter_mut().flat_map(|c| c.runs.iter_mut())
    }

    pub(crate) fn run(&self, p: Place) -> &Run<C> {
        &self.chunks[p.chunk].runs[p.run]
    }

    /// The element `id`, if the sequence holds it: in the run with the greatest first id up
    /// to `id`. No other run's first id can fall between a run's first id and one of its
    /// elements: ids order by (actor, seq, off); an offset run holds one op's consecutive
    /// offsets; and a seq run `(a, s, 0), (a, s + 1, 0) …` holds only single-element ops but
    /// perhaps its last, because an element continues `(a, s, 0)` only if its right origin
    /// is `(a, s, 0)`'s, while a second element `(a, s, 1)` of op `s` would lie between them
    /// and be that right origin. So the only other runs of those ops hold offsets 1 and up of
    /// the last op, after every id of the seq run.
    pub(crate) fn locate(&self, id: ElemId) -> Option<Place> {
        let (first, chunk_id) = self.index.range(..=id).next_back()?;
        let chunk = *self.position_of.get(*chunk_id)?;
        let run = self.chunks[chunk]
            .runs
            .iter()
            .position(|r| r.id == *first)?;
        let off = self.chunks[chunk].runs[run].offset_of(id)?;
        Some(Place { chunk, run, off })
    }

    /// The first run after the run at `p`, if any.
    pub(crate) fn next_run(&self, p: Place) -> Option<Place> {
        if p.run + 1 < self.chunks[p.chunk].runs.len() {
            return Some(Place {
                chunk: p.chunk,
                run: p.run + 1,
                off: 0,
            });
        }
        (p.chunk + 1 < self.chunks.len()).then_some(Place {
            chunk: p.chunk + 1,
            run: 0,
            off: 0,
        })
    }

    /// The first run, if any.
    pub(crate) fn first_run(&self) -> Option<Place> {
        (!self.chunks.is_empty()).then_some(Place {
            chunk: 0,
            run: 0,
            off: 0,
        })
    }

    /// The element just before `p` (an element or a run start), tombstones included.
    pub(crate) fn elem_before(&self, p: Place) -> Option<ElemId> {
        if p.off > 0 {
            return Some(self.run(p).elem(p.off - 1));
        }
        self.run_before(p).map(|q| self.run(q).last())
    }

    fn run_before(&self, p: Place) -> Option<Place> {
        if p.run > 0 {
            return Some(Place {
                chunk: p.chunk,
                run: p.run - 1,
                off: 0,
            });
        }
        let chunk = p.chunk.checked_sub(1)?;
        let run = self.chunks[chunk].runs.len().checked_sub(1)?;
        Some(Place { chunk, run, off: 0 })
    }

    /// The last element, tombstones included.
    pub(crate) fn last_elem(&self) -> Option<ElemId> {
        self.chunks
            .last()
            .and_then(|c| c.runs.last())
            .map(Run::last)
    }

    /// The `pos`-th visible element (0-based); `None` if `pos` is the visible length or
    /// beyond.
    pub(crate) fn find_visible(&self, mut pos: u64) -> Option<Place> {
        for (ci, chunk) in self.chunks.iter().enumerate() {
            if pos >= chunk.visible {
                pos -= chunk.visible;
                continue;
            }
            for (ri, run) in chunk.runs.iter().enumerate() {
                let v = run.visible();
                if pos < v {
                    return Some(Place {
                        chunk: ci,
                        run: ri,
                        off: pos as u32,
                    });
                }
                pos -= v;
            }
        }
        None
    }

    /// Visible elements before `p`.
    pub(crate) fn visible_before(&self, p: Place) -> u64 {
        let chunks: u64 = self.chunks[..p.chunk].iter().map(|c| c.visible).sum();
        let runs: u64 = self.chunks[p.chunk].runs[..p.run]
            .iter()
            .map(Run::visible)
            .sum();
        let inside = if self.run(p).is_live() {
            u64::from(p.off)
        } else {
            0
        };
        chunks + runs + inside
    }

    /// Makes `id` the first element of its run (splitting the run holding it); its place.
    pub(crate) fn split_before(&mut self, id: ElemId) -> Option<Place> {
        let p = self.locate(id)?;
        if p.off == 0 {
            return Some(p);
        }
        let chunk = &mut self.chunks[p.chunk];
        let rest = chunk.runs[p.run].split_off(p.off);
        self.index.insert(rest.id, chunk.id);
        make_room(&mut chunk.runs);
        chunk.runs.insert(p.run + 1, rest);
        let at = Place {
            chunk: p.chunk,
            run: p.run + 1,
            off: 0,
        };
        Some(self.rebalance(p.chunk, at))
    }

    /// Inserts `run` before the run at `at` (a run start), or at the end (`None`); its place.
    pub(crate) fn insert(&mut self, at: Option<Place>, run: Run<C>) -> Place {
        let visible = run.visible();
        self.visible += visible;
        if self.chunks.is_empty() {
            self.position_of.push(0);
            self.chunks.push(Chunk {
                id: 0,
                runs: Vec::new(),
                visible: 0,
            });
        }
        let p = at.unwrap_or_else(|| {
            let chunk = self.chunks.len() - 1;
            Place {
                chunk,
                run: self.chunks[chunk].runs.len(),
                off: 0,
            }
        });
        let chunk = &mut self.chunks[p.chunk];
        chunk.visible += visible;
        self.index.insert(run.id, chunk.id);
        make_room(&mut chunk.runs);
        chunk.runs.insert(p.run, run);
        self.rebalance(p.chunk, p)
    }

    /// Marks the whole run at `p` deleted in collection `epoch`; the elements a reader lost.
    pub(crate) fn delete_run(&mut self, p: Place, epoch: u64) -> u64 {
        let chunk = &mut self.chunks[p.chunk];
        let run = &mut chunk.runs[p.run];
        let lost = run.visible();
        run.body = Body::Deleted { epoch };
        chunk.visible -= lost;
        self.visible -= lost;
        lost
    }

    /// Merges the run at `p` into the run before it if it continues it (same chunk only: a
    /// chunk boundary costs a run, nothing else); the place of the merged run.
    pub(crate) fn merge_with_previous(&mut self, p: Place) -> Place {
        if p.run == 0 {
            return p;
        }
        let chunk = &mut self.chunks[p.chunk];
        let Some(step) = chunk.runs[p.run - 1].continues_with(&chunk.runs[p.run]) else {
            return p;
        };
        let next = chunk.runs.remove(p.run);
        self.index.remove(&next.id);
        chunk.runs[p.run - 1].absorb(&next, step);
        Place {
            chunk: p.chunk,
            run: p.run - 1,
            off: 0,
        }
    }

    /// Splits chunk `c` in two if it grew past [`MAX_RUNS`]; where `p` (in chunk `c`) is
    /// afterwards.
    fn rebalance(&mut self, c: usize, p: Place) -> Place {
        if self.chunks[c].runs.len() <= MAX_RUNS {
            return p;
        }
        let half = self.chunks[c].runs.len() / 2;
        // `split_off` leaves the first half the capacity of the whole, and gives the second
        // exactly its length; both then grow by `make_room`.
        let runs = self.chunks[c].runs.split_off(half);
        self.chunks[c].runs.shrink_to_fit();
        let visible: u64 = runs.iter().map(Run::visible).sum();
        self.chunks[c].visible -= visible;
        let id = self.position_of.len();
        self.position_of.push(c + 1);
        for r in &runs {
            self.index.insert(r.id, id);
        }
        self.chunks.insert(c + 1, Chunk { id, runs, visible });
        for chunk in &self.chunks[c + 2..] {
            self.position_of[chunk.id] += 1;
        }
        if p.chunk == c && p.run >= half {
            Place {
                chunk: c + 1,
                run: p.run - half,
                off: p.off,
            }
        } else {
            p
        }
    }
}
