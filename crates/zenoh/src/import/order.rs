//! A source's numbering at the importer: the next number due, the samples that came
//! ahead of it and the holes given up on, and the resume point kept in the state object
//! for a restarted importer (see the crash section of the importer's doc).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::time::{Duration, Instant};

use shmkit_core::coarse_clock_ns;

use crate::local::Message;
use crate::state::{import as w, State};

/// How long a hole in a source's numbering may go without a sample filling it before
/// its messages are counted as lost and the ones that came after it are delivered.
const HOLE_WAIT: Duration = Duration::from_millis(300);
/// The most samples held behind a hole, per source.
const MAX_STASH: usize = 65_536;
/// The most bytes held behind holes, over all sources: each sample's payload and
/// [`SAMPLE_COST`].
const MAX_STASHED_BYTES: usize = 64 << 20;
/// What holding a sample costs besides its payload (its buffer's and the map's
/// bookkeeping), counted towards [`MAX_STASHED_BYTES`].
const SAMPLE_COST: usize = 64;
/// The most ranges of given-up numbers kept per source (to tell a late sample from a
/// repeat): past them, the oldest is forgotten.
const MAX_SKIPPED: usize = 256;
/// How long a source must have been silent for its resume pair to go to a new source
/// when every pair is taken.
const SLOT_IDLE: Duration = Duration::from_secs(10);
/// The most sources (exporters) an importer follows the numbering of.
pub(super) const MAX_SOURCES: usize = 1024;

/// A message due, to be put: with, for a source that has a resume point, the pair of
/// words and the number to write there once it is put.
pub(super) struct Ready {
    pub(super) msg: Message,
    pub(super) save: Option<(usize, u64)>,
    /// For a message that came after its number was given up: once it is put, it is
    /// taken out of `GAPS`, and, if `true` (a restart had counted it as missed), out of
    /// `MISSED_WHILE_DOWN`.
    pub(super) late: Option<bool>,
}

/// Writes `next` as the resume point in the state's pair `slot`: every number below it,
/// from the source the pair is for, has been put or counted in `GAPS`.
pub(super) fn save(st: &State, slot: usize, next: u64) {
    st.store(w::RESUME + 2 * slot + 1, next);
}

/// One source's numbering: the next number due, and the samples that came ahead of it.
pub(super) struct Order {
    /// The source's id.
    source: u64,
    /// When it was last heard from: the coarse monotonic clock, in nanoseconds.
    last: u64,
    pub(super) expected: u64,
    /// The state's pair of words that keeps this source's resume point, if it has one.
    pub(super) slot: Option<usize>,
    /// The numbers a restart counted as missed (delivered late, one is taken out again).
    /// Numbers from its start on are counted; earlier ones came before the numbering here
    /// began.
    missed: Range<u64>,
    /// The numbers given up as lost and not come since, as ranges (start to end), from
    /// `floor` on: a sample below the number due is delivered late if its number is in
    /// one, and dropped as a repeat if not.
    skipped: BTreeMap<u64, u64>,
    /// Numbers below it are not tracked: one that comes is delivered late, uncounted.
    floor: u64,
    pub(super) stash: BTreeMap<u64, Message>,
    /// What `stash` holds, in bytes: payloads and [`SAMPLE_COST`] each.
    stash_bytes: usize,
    /// When the hole before the stash last saw progress (set when a sample is first
    /// stashed, and on each progress while the stash is not empty: read only then).
    since: Instant,
}

impl Order {
    /// The numbering of `source`, whose first sample here is number `seq`: it starts
    /// there, or, for a source a previous importer had (`resumed`: its next number due),
    /// where that importer stopped, with every number skipped since counted as lost. Its
    /// resume point goes into the state's pair `slot`, if it has one.
    pub(super) fn first(
        source: u64,
        seq: u64,
        resumed: Option<u64>,
        slot: Option<usize>,
        st: &State,
    ) -> Self {
        let missed = match resumed {
            Some(next) if seq > next => {
                st.add(w::GAPS, seq - next);
                st.add(w::MISSED_WHILE_DOWN, seq - next);
                next..seq
            }
            // Not ahead of where the previous importer stopped: a numbering that started
            // again. Nothing to count.
            _ => seq..seq,
        };
        let order = Self {
            source,
            last: 0,
            expected: seq,
            slot,
            skipped: if missed.is_empty() {
                BTreeMap::new()
            } else {
                BTreeMap::from([(missed.start, missed.end)])
            },
            floor: missed.start,
            missed,
            stash: BTreeMap::new(),
            stash_bytes: 0,
            since: Instant::now(),
        };
        if let Some(i) = order.slot {
            if st.get(w::RESUME + 2 * i) == source {
                save(st, i, seq);
            } else {
                // Freed first, so that a kill in between leaves no pair of this id and
                // another source's number.
                st.store(w::RESUME + 2 * i, 0);
                save(st, i, seq);
                st.store(w::RESUME + 2 * i, source);
            }
        }
        order
    }

    /// A message due, with the resume point to write once it is put: `next`.
    fn ready(&self, msg: Message, next: u64) -> Ready {
        Ready { msg, save: self.slot.map(|slot| (slot, next)), late: None }
    }

    /// Whether sample `seq` is the one due with nothing waiting: then it is counted as
    /// handed on, and the caller delivers it.
    pub(super) fn in_turn(&mut self, seq: u64) -> bool {
        if seq != self.expected || !self.stash.is_empty() {
            return false;
        }
        // No clock read: `since` means nothing while the stash is empty.
        self.expected += 1;
        true
    }

    /// Takes sample `seq`: hands on, in order, every message now due.
    pub(super) fn offer(&mut self, seq: u64, msg: Message, st: &State, ready: &mut Vec<Ready>) {
        if seq < self.expected {
            st.add(w::OUT_OF_ORDER, 1);
            if seq < self.floor {
                // Before the numbering here began (or its oldest holes were forgotten):
                // delivered, with nothing to take out of the gaps.
                ready.push(Ready { msg, save: None, late: None });
            } else if self.unskip(seq) {
                // Its place was given up as lost: delivered late rather than lost, and
                // once put, taken out of the gaps. The resume point stays.
                ready.push(Ready { msg, save: None, late: Some(self.missed.contains(&seq)) });
            } else {
                // Delivered already: a repeat.
                st.add(w::DROPPED_NEWEST, 1);
            }
            return;
        }
        if seq > self.expected {
            if self.stash.is_empty() {
                self.since = Instant::now();
            }
            self.stash_bytes += msg.bytes.len() + SAMPLE_COST;
            if let Some(was) = self.stash.insert(seq, msg) {
                // The same number twice: the first copy is dropped.
                self.stash_bytes -= was.bytes.len() + SAMPLE_COST;
                st.add(w::OUT_OF_ORDER, 1);
                st.add(w::DROPPED_NEWEST, 1);
            }
            if self.stash.len() > MAX_STASH {
                self.skip_hole(st, ready);
            }
            return;
        }
        self.expected += 1;
        ready.push(self.ready(msg, self.expected));
        self.since = Instant::now();
        self.drain(ready);
    }

    fn drain(&mut self, ready: &mut Vec<Ready>) {
        while let Some(msg) = self.stash.remove(&self.expected) {
            self.stash_bytes -= msg.bytes.len() + SAMPLE_COST;
            self.expected += 1;
            ready.push(self.ready(msg, self.expected));
        }
    }

    /// The hole before the stash is lost: count it, and hand on what waited behind it.
    /// The resume point passes the hole with the message put last before it (still in
    /// `ready`), or at once if there is none: a kill then never counts the hole twice.
    pub(super) fn skip_hole(&mut self, st: &State, ready: &mut Vec<Ready>) {
        if let Some(&first) = self.stash.keys().next() {
            st.add(w::GAPS, first - self.expected);
            self.skipped.insert(self.expected, first);
            if self.skipped.len() > MAX_SKIPPED {
                if let Some((_, end)) = self.skipped.pop_first() {
                    self.floor = end;
                }
            }
            if let Some(slot) = self.slot {
                match ready
                    .iter_mut()
                    .rev()
                    .find(|r| r.save.is_some_and(|(s, next)| s == slot && next == self.expected))
                {
                    Some(last) => last.save = Some((slot, first)),
                    None => save(st, slot, first),
                }
            }
            self.expected = first;
            self.since = Instant::now();
            self.drain(ready);
        }
    }

    /// Takes `seq` out of the numbers given up; `false` if it is not among them.
    fn unskip(&mut self, seq: u64) -> bool {
        let Some((&start, &end)) = self.skipped.range(..=seq).next_back() else { return false };
        if seq >= end {
            return false;
        }
        self.skipped.remove(&start);
        if start < seq {
            self.skipped.insert(start, seq);
        }
        if seq + 1 < end {
            self.skipped.insert(seq + 1, end);
        }
        true
    }

    /// Gives up the hole if it has seen no progress for [`HOLE_WAIT`] up to `now`.
    fn give_up_if_stale(&mut self, now: Instant, st: &State, ready: &mut Vec<Ready>) {
        if !self.stash.is_empty() && now.saturating_duration_since(self.since) >= HOLE_WAIT {
            self.skip_hole(st, ready);
        }
    }

    /// Gives up every hole: all that waits goes on.
    fn give_up_all(&mut self, st: &State, ready: &mut Vec<Ready>) {
        while !self.stash.is_empty() {
            self.skip_hole(st, ready);
        }
    }
}

/// Every source an importer follows: their numbering, the resume points a previous
/// importer left, and the bounds on what they hold.
pub(super) struct Sources {
    map: HashMap<u64, Order>,
    /// The next number due from each source a previous importer on this state had, until
    /// the source's first sample comes.
    resume: HashMap<u64, u64>,
    /// The sources that hold a resume point in the state.
    slotted: Vec<u64>,
    /// The sum of the sources' `stash_bytes`.
    stashed: usize,
}

impl Sources {
    /// None yet; the resume points a previous importer left in `st` (booking a restart if
    /// there was one).
    pub(super) fn new(st: &State) -> Self {
        Self { map: HashMap::new(), resume: resume_points(st), slotted: Vec::new(), stashed: 0 }
    }

    /// Makes `source` look silent for `by` more.
    #[cfg(test)]
    pub(super) fn age(&mut self, source: u64, by: Duration) {
        if let Some(o) = self.map.get_mut(&source) {
            o.last = o.last.saturating_sub(by.as_nanos() as u64);
        }
    }

    /// How many sources are followed.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// The numbering of `source`, whose sample `seq` just came: followed already, or
    /// from now on. At [`MAX_SOURCES`], a new source takes the place of the one heard from
    /// least recently with nothing waiting (which, should it come back, starts afresh);
    /// `None` if every one has samples waiting.
    pub(super) fn follow(&mut self, source: u64, seq: u64, st: &State) -> Option<&mut Order> {
        let now = coarse_clock_ns();
        if !self.map.contains_key(&source) {
            if self.map.len() >= MAX_SOURCES && !self.forget_one() {
                return None;
            }
            let slot = self.slot_for(source, now, st);
            let order = Order::first(source, seq, self.resume.remove(&source), slot, st);
            self.map.insert(source, order);
        }
        let order = self.map.get_mut(&source)?;
        order.last = now;
        Some(order)
    }

    /// Forgets the source heard from least recently that has nothing waiting; its resume
    /// pair, if it had one, may go to another.
    fn forget_one(&mut self) -> bool {
        let Some(&id) =
            self.map.values().filter(|o| o.stash.is_empty()).min_by_key(|o| o.last).map(|o| &o.source)
        else {
            return false;
        };
        self.map.remove(&id);
        self.slotted.retain(|&s| s != id);
        true
    }

    /// A resume pair for the new source `source`: see [`resume_slot`]; failing that, the
    /// pair of this importer's source heard from least recently, if not for
    /// [`SLOT_IDLE`] (a dead exporter's, most likely), which goes on without.
    fn slot_for(&mut self, source: u64, now: u64, st: &State) -> Option<usize> {
        if let Some(slot) = resume_slot(st, source, &mut self.slotted) {
            return Some(slot);
        }
        if source == 0 {
            return None;
        }
        let idle_since = now.saturating_sub(SLOT_IDLE.as_nanos() as u64);
        let oldest = self
            .map
            .values_mut()
            .filter(|o| o.slot.is_some() && o.last < idle_since)
            .min_by_key(|o| o.last)?;
        let (id, slot) = (oldest.source, oldest.slot.take());
        self.slotted.retain(|&s| s != id);
        self.slotted.push(source);
        slot
    }

    /// Every source's numbering.
    #[cfg(test)]
    pub(super) fn orders(&mut self) -> impl Iterator<Item = &mut Order> {
        self.map.values_mut()
    }

    /// Whether any sample waits behind a hole.
    pub(super) fn any_waiting(&self) -> bool {
        self.stashed != 0
    }

    /// Runs `f` on every source's numbering, keeping the count of what waits.
    fn each(&mut self, mut f: impl FnMut(&mut Order)) {
        for o in self.map.values_mut() {
            let before = o.stash_bytes;
            f(o);
            self.stashed = self.stashed - before + o.stash_bytes;
        }
    }

    /// [`Order::offer`] for the sample `seq` of `source`, followed already (by
    /// [`follow`](Self::follow)); then, while more than [`MAX_STASHED_BYTES`] waits
    /// behind holes, the holes of the source that holds the most are given up.
    pub(super) fn offer(&mut self, source: u64, seq: u64, msg: Message, st: &State, ready: &mut Vec<Ready>) {
        let Some(o) = self.map.get_mut(&source) else { return };
        let before = o.stash_bytes;
        o.offer(seq, msg, st, ready);
        self.stashed = self.stashed - before + o.stash_bytes;
        while self.stashed > MAX_STASHED_BYTES {
            let Some(most) = self.map.values_mut().max_by_key(|o| o.stash_bytes) else { return };
            self.stashed -= most.stash_bytes;
            most.give_up_all(st, ready);
        }
    }

    /// Gives up every hole that has seen no progress for [`HOLE_WAIT`] (the clock is read
    /// only if a sample waits).
    pub(super) fn give_up_stale(&mut self, st: &State, ready: &mut Vec<Ready>) {
        if self.stashed != 0 {
            self.give_up_stale_at(Instant::now(), st, ready);
        }
    }

    /// Gives up every hole that has seen no progress for [`HOLE_WAIT`] up to `now`.
    pub(super) fn give_up_stale_at(&mut self, now: Instant, st: &State, ready: &mut Vec<Ready>) {
        self.each(|o| o.give_up_if_stale(now, st, ready));
    }

    /// The importer waited `waited` for room in its target: that time is no hole's fault
    /// (the samples that fill a hole cannot come in meanwhile), so every hole's wait is
    /// pushed back by it (a hole opened before the wait: the lock was held).
    pub(super) fn held_up(&mut self, waited: Duration) {
        let now = Instant::now();
        for o in self.map.values_mut().filter(|o| !o.stash.is_empty()) {
            o.since = o.since.checked_add(waited).map_or(now, |t| t.min(now));
        }
    }

    /// Gives up every hole (the importer stops): all that waits goes on.
    pub(super) fn give_up_all(&mut self, st: &State, ready: &mut Vec<Ready>) {
        self.each(|o| o.give_up_all(st, ready));
    }
}

/// The resume points a previous importer on this state left (and one more restart
/// booked, if there was one).
fn resume_points(st: &State) -> HashMap<u64, u64> {
    if !st.used_before {
        return HashMap::new();
    }
    st.add(w::RESTARTS, 1);
    (0..w::RESUME_SLOTS)
        .map(|i| (st.get(w::RESUME + 2 * i), st.get(w::RESUME + 2 * i + 1)))
        .filter(|&(source, _)| source != 0)
        .collect()
}

/// A pair of words for `source`'s resume point, booked in `slotted`: its own, else a free
/// one, else one whose source holds no resume point of this importer's (a previous
/// one's); `None` if every pair belongs to a source of this importer's, and for source 0.
pub(super) fn resume_slot(st: &State, source: u64, slotted: &mut Vec<u64>) -> Option<usize> {
    if source == 0 {
        // Would read as a free pair: none for it.
        return None;
    }
    let held: Vec<u64> = (0..w::RESUME_SLOTS).map(|i| st.get(w::RESUME + 2 * i)).collect();
    let i = held
        .iter()
        .position(|&s| s == source)
        .or_else(|| held.iter().position(|&s| s == 0))
        .or_else(|| held.iter().position(|s| !slotted.contains(s)))?;
    slotted.push(source);
    Some(i)
}
