//! The Python tutorial's "sharing data between processes with a Manager": ten processes
//! each add their pid to a shared dict and append it to a shared list, and print the
//! list. shmkit has no `Manager` (a server process holding Python objects, reached
//! through proxies); this is the closest it comes: the list and the dict are fixed-size
//! `Array`s in shared memory, with a length, appended to under the list's lock.
//!
//! ```text
//! cargo run --release --example manager_list_dict
//! ```
//!
//! Python (other versions of the tutorial have three processes and
//! `m_dict[1] = 'dict in op'`, or two that set `'name'` and `'age'`):
//!
//! ```python
//! def f(d, l):
//!     d[os.getpid()] = os.getpid()
//!     l.append(os.getpid())
//!     print(l)
//!
//! if __name__ == '__main__':
//!     with Manager() as manager:
//!         d = manager.dict()            # a dict shared between processes
//!         l = manager.list(range(5))    # a list shared between processes
//!         p_list = []
//!         for i in range(10):
//!             p = Process(target=f, args=(d, l))
//!             p.start()
//!             p_list.append(p)
//!         for res in p_list:
//!             res.join()
//!         print(d)
//!         print(l)
//! ```
//!
//! The tutorial's comment says the manager "has already locked for you"; here the lock is the
//! list array's own (`get_lock`), taken for the whole append, so that the length, the list
//! and the dict change together. The children inherit the anonymous arrays (fork). A
//! Manager's list grows; these hold at most `CAPACITY` entries, and one more append is an
//! error, not a larger list.

use std::sync::Arc;

use shmkit::{Array, Process, Value};

/// Room for `range(5)` and ten pids.
const CAPACITY: usize = 15;

/// A list and a dict in shared memory, as far as this example needs them.
struct Shared {
    /// The list's entries; the first `len` are in use.
    list: Array<u32>,
    /// The dict's (key, value) pairs, in insertion order; the first `len - 5` are in use.
    dict: Array<[u32; 2]>,
    /// The list's length (written only under the list's lock).
    len: Value<u32>,
}

impl Shared {
    /// `l = manager.list(range(5))`, `d = manager.dict()`.
    fn new() -> Result<Self, Box<dyn std::error::Error>> {
        let mut list = [0u32; CAPACITY];
        for (i, x) in list.iter_mut().enumerate().take(5) {
            *x = i as u32;
        }
        Ok(Self {
            list: Array::anonymous(&list)?,
            dict: Array::anonymous_zeroed(CAPACITY - 5)?,
            len: Value::anonymous(5)?,
        })
    }

    /// `d[pid] = pid; l.append(pid)`, under the list's lock; the list after.
    fn add(&self, pid: u32) -> Result<Vec<u32>, Box<dyn std::error::Error>> {
        // A holder that died is reported once; its entries are whole (each write is
        // atomic), so we go on with the guard.
        let mut guard =
            self.list.get_lock().or_else(|e| e.into_guard().ok_or("no participant slot for the lock"))?;
        let n = self.len.load() as usize;
        self.dict.set(n - 5, [pid, pid])?;
        guard.set(n, pid)?;
        self.len.store(n as u32 + 1)?;
        Ok(guard.to_vec()[..=n].to_vec())
    }

    fn list(&self) -> Vec<u32> {
        self.list.to_vec()[..self.len.load() as usize].to_vec()
    }

    /// The dict as Python prints it.
    fn dict(&self) -> String {
        let pairs = self.dict.to_vec();
        let used = &pairs[..self.len.load() as usize - 5];
        let items: Vec<String> = used.iter().map(|[k, v]| format!("{k}: {v}")).collect();
        format!("{{{}}}", items.join(", "))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let shared = Arc::new(Shared::new()?);
    let mut p_list = Vec::new();
    for _ in 0..10 {
        let s = Arc::clone(&shared);
        let mut p = Process::new(move || match s.add(std::process::id()) {
            Ok(l) => println!("{l:?}"),
            Err(e) => panic!("cannot append: {e}"),
        });
        p.start()?;
        p_list.push(p);
    }
    for mut res in p_list {
        let code = res.join()?;
        if code != 0 {
            return Err(
                format!("{} ended with exit code {code}: {:?}", res.get_name(), res.panic_message()).into()
            );
        }
    }
    println!("{}", shared.dict());
    println!("{:?}", shared.list());
    Ok(())
}
