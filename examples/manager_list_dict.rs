//! The Python tutorial's "sharing data between processes with a Manager": ten processes
//! each add their pid to a shared dict and append it to a shared list, and print the
//! list. Python's `Manager` is a server process holding the objects, reached through
//! proxies; shmkit's `Dict` and `List` are in shared memory, without a server.
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
//! The tutorial's comment says the manager "has already locked for you": here every
//! `insert` and `append` is one atomic commit, and readers never wait. The children
//! inherit the anonymous dict and list (fork). A `Dict` iterates in its hash order, not in
//! insertion order as Python's does.

use shmkit::{Dict, List, Process};

fn f(d: &Dict<u32, u32>, l: &List<u32>) -> Result<(), shmkit::DictError> {
    let pid = std::process::id();
    d.insert(pid, pid)?;
    l.append(&pid)?;
    println!("{:?}", l.to_vec()?);
    Ok(())
}

/// A dict as Python prints it.
fn show(d: &Dict<u32, u32>) -> Result<String, shmkit::DictError> {
    let items: Vec<String> = d.items()?.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    Ok(format!("{{{}}}", items.join(", ")))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let d: Dict<u32, u32> = Dict::anonymous()?; // a dict shared between processes
    let l: List<u32> = List::anonymous()?; // a list shared between processes
    l.extend(0..5)?; // manager.list(range(5))
    let mut p_list = Vec::new();
    for _ in 0..10 {
        let (d, l) = (d.try_clone()?, l.try_clone()?);
        let mut p = Process::new(move || {
            if let Err(e) = f(&d, &l) {
                panic!("cannot share: {e}");
            }
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
    println!("{}", show(&d)?);
    println!("{:?}", l.to_vec()?);
    Ok(())
}
