//! Loom models of the store's commit protocol and generation switch, with the orderings
//! `store.rs` uses: the arena's words are written relaxed, then published by the commit
//! word (release); a new generation is filled and committed, then published by the root's
//! generation word (release); readers load both with acquire. (The handles themselves are
//! not built under loom; these are the protocol, word for word.)

use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;

/// One generation: a tiny arena of words and its commit word (0: nothing committed).
#[derive(Default)]
struct Gen {
    words: [AtomicU64; 8],
    commit: AtomicU64,
}

/// The root's generation word (1 or 2) and two generations.
#[derive(Default)]
struct Store {
    gen: AtomicU64,
    gens: [Gen; 2],
}

impl Store {
    /// Locked: writes a record of two words holding `v` at `at` and commits it.
    fn commit(&self, g: usize, at: usize, v: u64) {
        let gen = &self.gens[g - 1];
        gen.words[at].store(v, Ordering::Relaxed);
        gen.words[at + 1].store(v, Ordering::Relaxed);
        gen.commit.store(at as u64, Ordering::Release);
    }

    /// Locked: copies the committed record of generation 1 into generation 2, commits it
    /// there, switches the root to it.
    fn grow(&self) {
        let old = &self.gens[0];
        let at = old.commit.load(Ordering::Acquire) as usize;
        let v = old.words[at].load(Ordering::Relaxed);
        self.commit(2, 1, v);
        self.gen.store(2, Ordering::Release);
    }

    /// A reader: the record it sees (both words), from the generation the root names.
    fn read(&self) -> (u64, u64, u64) {
        let g = self.gen.load(Ordering::Acquire);
        let gen = &self.gens[g as usize - 1];
        let at = gen.commit.load(Ordering::Acquire) as usize;
        (g, gen.words[at].load(Ordering::Relaxed), gen.words[at + 1].load(Ordering::Relaxed))
    }
}

#[test]
fn loom_a_reader_racing_commits_and_a_switch_sees_old_or_new_never_a_mix() {
    loom::model(|| {
        let s = Arc::new(Store::default());
        s.gen.store(1, Ordering::Relaxed);
        s.commit(1, 2, 10);
        let w = s.clone();
        let writer = loom::thread::spawn(move || {
            w.commit(1, 4, 20);
            w.grow();
            w.commit(2, 3, 30);
        });
        let (g1, a1, b1) = s.read();
        let (g2, a2, b2) = s.read();
        writer.join().unwrap();
        for (g, a, b) in [(g1, a1, b1), (g2, a2, b2)] {
            assert_eq!(a, b, "a record half of one commit and half of another");
            assert!([10, 20, 30].contains(&a), "a value no commit made: {a}");
            // A reader that follows the switch sees the copied state or later, never the
            // new generation before it was filled.
            if g == 2 {
                assert!(a == 20 || a == 30, "generation 2 read before its first commit: {a}");
            }
        }
        // Reads never go back in time.
        assert!(a2 >= a1, "a later read saw an older state: {a1} then {a2}");
        assert_eq!(s.read(), (2, 30, 30));
    });
}
