//! The arena's algorithms on the heap: the hash trie and the vector against `HashMap` and
//! `Vec` through random operations, with compaction (the copy a growth makes) between
//! them; and forged arenas (run under Miri too).

#[cfg(shmkit_loom)]
mod loom_models;

#[cfg(not(shmkit_loom))]
mod heap {
    use std::collections::HashMap;
    use std::ptr::NonNull;

    use proptest::prelude::*;

    use crate::arena::{copy, hash, measure, Appender, Record, View, WriteError, START};
    use crate::{hamt, vector};

    /// An arena on the heap with its commit word, as a generation keeps them.
    struct Heap {
        words: Vec<u64>,
        commit: u64,
    }

    impl Heap {
        fn new(bytes: usize) -> Self {
            let mut h = Self { words: vec![0; bytes / 8], commit: 0 };
            h.commit_record(START, Record::default());
            h
        }

        fn base(&mut self) -> NonNull<u8> {
            NonNull::new(self.words.as_mut_ptr().cast()).unwrap()
        }

        fn cap(&self) -> u64 {
            self.words.len() as u64 * 8
        }

        fn commit_record(&mut self, top: u64, r: Record) {
            let (base, cap) = (self.base(), self.cap());
            // SAFETY: the heap buffer is ours and nobody else reads it meanwhile.
            let mut a = unsafe { Appender::new(base, cap, top) };
            self.commit = a.record(&r).unwrap();
        }

        /// Runs `op` over the committed state and commits what it returns.
        fn write(
            &mut self,
            op: impl FnOnce(&View<'_>, u64, &Record, &mut Appender<'_>) -> Result<Record, WriteError>,
        ) {
            let (base, cap, commit) = (self.base(), self.cap(), self.commit);
            // SAFETY: as in `commit_record`; the view ends at the record, the appender after it.
            let (v, mut a) = unsafe { (View::new(base, commit + 40), Appender::new(base, cap, commit + 40)) };
            let rec = v.record(commit).unwrap();
            let next = op(&v, commit, &rec, &mut a).unwrap();
            let at = a.record(&next).unwrap();
            self.commit = at;
        }

        fn read<R>(&mut self, f: impl FnOnce(&View<'_>, u64, &Record) -> R) -> R {
            let (base, commit) = (self.base(), self.commit);
            // SAFETY: the committed bytes of our own buffer.
            let v = unsafe { View::new(base, commit + 40) };
            let rec = v.record(commit).unwrap();
            f(&v, commit, &rec)
        }

        /// The live nodes copied into a fresh arena, as a growth does.
        fn compacted(&mut self) -> Self {
            let mut fresh = Self { words: vec![0; self.words.len()], commit: 0 };
            let (fb, fcap) = (fresh.base(), fresh.cap());
            let rec = self.read(|v, at, r| {
                // SAFETY: the fresh buffer is ours.
                let mut a = unsafe { Appender::new(fb, fcap, START) };
                let root = if r.root == 0 { 0 } else { copy(v, &mut a, r.root, at).unwrap() };
                (Record { root, ..*r }, a.top(), measure(v, r.root, at).unwrap())
            });
            fresh.commit_record(rec.1, rec.0);
            let live = fresh.read(|v, at, r| measure(v, r.root, at).unwrap());
            assert_eq!(live, rec.2, "a copy holds the live bytes exactly");
            fresh
        }
    }

    fn key(k: u16) -> Vec<u8> {
        postcard::to_allocvec(&k).unwrap()
    }

    #[derive(Clone, Debug)]
    enum DictOp {
        Insert(u16, u32),
        Remove(u16),
        Compact,
    }

    fn dict_op() -> impl Strategy<Value = DictOp> {
        prop_oneof![
            4 => (0u16..300, any::<u32>()).prop_map(|(k, v)| DictOp::Insert(k, v)),
            2 => (0u16..300).prop_map(DictOp::Remove),
            1 => Just(DictOp::Compact),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 1 } else { 64 }, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn the_hash_trie_is_a_hash_map(ops in proptest::collection::vec(dict_op(), 1..if cfg!(miri) { 24 } else { 400 })) {
            let mut h = Heap::new(4 << 20);
            let mut model: HashMap<u16, u32> = HashMap::new();
            for op in ops {
                match op {
                    DictOp::Insert(k, val) => {
                        let kb = key(k);
                        let vb = val.to_le_bytes();
                        h.write(|v, at, r, a| {
                            let (root, added) = hamt::insert(v, a, r.root, at, hash(&kb), &kb, &vb)?;
                            Ok(Record { root, len: r.len + u64::from(added), ..*r })
                        });
                        model.insert(k, val);
                    }
                    DictOp::Remove(k) => {
                        let kb = key(k);
                        h.write(|v, at, r, a| {
                            Ok(match hamt::remove(v, a, r.root, at, hash(&kb), &kb)? {
                                Some(root) => Record { root, len: r.len - 1, ..*r },
                                None => *r,
                            })
                        });
                        model.remove(&k);
                    }
                    DictOp::Compact => h = h.compacted(),
                }
                let len = h.read(|_, _, r| r.len);
                prop_assert_eq!(len as usize, model.len());
            }
            for k in 0..300u16 {
                let kb = key(k);
                let got = h.read(|v, at, r| hamt::get(v, r.root, at, hash(&kb), &kb).unwrap().map(|b| u32::from_le_bytes(b.try_into().unwrap())));
                prop_assert_eq!(got, model.get(&k).copied());
            }
            let mut all = Vec::new();
            h.read(|v, at, r| hamt::for_each(v, r.root, at, &mut |k, val| { all.push((k.to_vec(), val.to_vec())); Ok(()) })).unwrap();
            prop_assert_eq!(all.len(), model.len());
        }
    }

    #[derive(Clone, Debug)]
    enum ListOp {
        Push(u32),
        Pop,
        Set(usize, u32),
        Insert(usize, u32),
        Remove(usize),
        Compact,
    }

    fn list_op() -> impl Strategy<Value = ListOp> {
        prop_oneof![
            8 => any::<u32>().prop_map(ListOp::Push),
            2 => Just(ListOp::Pop),
            2 => (any::<usize>(), any::<u32>()).prop_map(|(i, v)| ListOp::Set(i, v)),
            1 => (any::<usize>(), any::<u32>()).prop_map(|(i, v)| ListOp::Insert(i, v)),
            1 => any::<usize>().prop_map(ListOp::Remove),
            1 => Just(ListOp::Compact),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 1 } else { 64 }, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn the_vector_is_a_vec(ops in proptest::collection::vec(list_op(), 1..if cfg!(miri) { 40 } else { 1500 })) {
            let mut h = Heap::new(8 << 20);
            let mut model: Vec<u32> = Vec::new();
            for op in ops {
                match op {
                    ListOp::Push(x) => {
                        h.write(|v, at, r, a| vector::push(v, a, r, at, &x.to_le_bytes()));
                        model.push(x);
                    }
                    ListOp::Pop if !model.is_empty() => {
                        h.write(|v, at, r, a| vector::pop(v, a, r, at));
                        model.pop();
                    }
                    ListOp::Set(i, x) if !model.is_empty() => {
                        let i = i % model.len();
                        h.write(|v, at, r, a| vector::set(v, a, r, at, i as u64, &x.to_le_bytes()));
                        model[i] = x;
                    }
                    ListOp::Insert(i, x) => {
                        let i = i % (model.len() + 1);
                        h.write(|v, at, r, a| {
                            let mut elems = vector::elements(v, r, at)?;
                            elems.insert(i, a.elem(&x.to_le_bytes())?);
                            let (root, shift) = vector::build(a, &elems)?;
                            Ok(Record { root, shift, len: r.len + 1, ..*r })
                        });
                        model.insert(i, x);
                    }
                    ListOp::Remove(i) if !model.is_empty() => {
                        let i = i % model.len();
                        h.write(|v, at, r, a| {
                            let mut elems = vector::elements(v, r, at)?;
                            elems.remove(i);
                            let (root, shift) = vector::build(a, &elems)?;
                            Ok(Record { root, shift, len: r.len - 1, ..*r })
                        });
                        model.remove(i);
                    }
                    ListOp::Compact => h = h.compacted(),
                    _ => {}
                }
            }
            let got: Vec<u32> = h.read(|v, at, r| {
                (0..r.len).map(|i| u32::from_le_bytes(vector::get(v, r, at, i).unwrap().unwrap().try_into().unwrap())).collect()
            });
            prop_assert_eq!(got, model.clone());
            let n = h.read(|v, at, r| vector::elements(v, r, at).unwrap().len());
            prop_assert_eq!(n, model.len());
        }
    }

    #[test]
    fn forged_arenas_give_errors_never_panics_or_loops() {
        let mut h = Heap::new(1 << 16);
        for k in 0..50u16 {
            let kb = key(k);
            h.write(|v, at, r, a| {
                let (root, added) = hamt::insert(v, a, r.root, at, hash(&kb), &kb, b"value")?;
                Ok(Record { root, len: r.len + u64::from(added), ..*r })
            });
        }
        let end = (h.commit + 40) as usize / 8;
        // Every word of the committed arena overwritten in turn with values that point
        // everywhere: forward, backward, at themselves, past the end, huge lengths.
        let saved = h.words.clone();
        // Under Miri, every 97th word: the same kinds of forgery, in bounded time.
        for w in (0..end).step_by(if cfg!(miri) { 97 } else { 1 }) {
            for forged in [0, 8, (w as u64) * 8, (w as u64 + 1) * 8, u64::MAX, 0xffff_ffff, 1 << 40, 7] {
                h.words.copy_from_slice(&saved);
                h.words[w] = forged;
                let base = h.base();
                // SAFETY: our own buffer, `end` words of it.
                let v = unsafe { View::new(base, end as u64 * 8) };
                let Ok(r) = v.record(h.commit) else { continue };
                for k in 0..60u16 {
                    let kb = key(k);
                    let _ = hamt::get(&v, r.root, h.commit, hash(&kb), &kb);
                }
                let _ = hamt::for_each(&v, r.root, h.commit, &mut |_, _| Ok(()));
                let _ = measure(&v, r.root, h.commit);
                let _ = vector::elements(&v, &r, h.commit);
                let _ = vector::get(&v, &r, h.commit, 3);
            }
        }
    }

    #[test]
    fn a_forged_chain_deeper_than_any_tree_is_refused_by_a_copy_not_the_stack() {
        let mut h = Heap::new(1 << 16);
        let (base, cap, commit) = (h.base(), h.cap(), h.commit);
        // SAFETY: our own buffer; nothing reads it meanwhile.
        let mut a = unsafe { Appender::new(base, cap, commit + 40) };
        let mut at = a.entry(1, b"k", b"v").unwrap();
        for _ in 0..2000 {
            at = a.branch(1, &[at]).unwrap();
        }
        let top = a.top();
        h.commit_record(top, Record { root: at, len: 1, ..Record::default() });
        let mut fresh = Heap::new(1 << 20);
        let (fb, fcap) = (fresh.base(), fresh.cap());
        let r = h.read(|v, at, r| {
            // SAFETY: the fresh buffer is ours.
            let mut a = unsafe { Appender::new(fb, fcap, START) };
            copy(v, &mut a, r.root, at)
        });
        assert!(matches!(r, Err(WriteError::Corrupt(_))), "{r:?}");
    }
}
