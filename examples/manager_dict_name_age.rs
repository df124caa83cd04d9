//! The Python tutorial's "shared memory operations between processes: the Manager's dict":
//! two processes each set one key of a shared dict, `'name'` and `'age'`; the parent prints
//! it. Then the same dict, and a message queue, handed to `Pool` tasks by name (Python
//! needs `Manager()` objects for a pool).
//!
//! ```text
//! cargo run --release --example manager_dict_name_age
//! ```
//!
//! Python:
//!
//! ```python
//! def add_data(p_dict, key, value):
//!     p_dict[key] = value
//!
//! if __name__ == "__main__":
//!     progress_dict = Manager().dict()
//!     first_progress = Process(target=add_data, args=(progress_dict, "name", "tangrong"))
//!     second_progress = Process(target=add_data, args=(progress_dict, "age", "18"))
//!     first_progress.start(); second_progress.start()
//!     first_progress.join(); second_progress.join()
//!     print(progress_dict)
//! # output: {'name': 'tangrong', 'age': '18'}
//! ```
//!
//! The dict is named here, so that pool tasks can open it by name (`ByName`), as they do
//! the message queue; a `Dict` iterates in its hash order, not in insertion order.

mod common;

use std::time::Duration;

use common::unique;
use shmkit::{ByName, Dict, MessageQueue, Pool, Process};

type Progress = Dict<String, String>;

fn add_data(p_dict: &Progress, key: &str, value: &str) -> Result<(), shmkit::DictError> {
    p_dict.insert(key.to_string(), value.to_string()).map(drop)
}

/// A dict as Python prints it.
fn show(d: &Progress) -> Result<String, shmkit::DictError> {
    let items: Vec<String> = d.items()?.iter().map(|(k, v)| format!("'{k}': '{v}'")).collect();
    Ok(format!("{{{}}}", items.join(", ")))
}

/// A pool task: puts "a" into the queue and records it in the dict.
fn producer((d, q): (ByName<Progress>, ByName<MessageQueue>)) -> Result<(), String> {
    let (d, q) = (d.open().map_err(|e| e.to_string())?, q.open().map_err(|e| e.to_string())?);
    q.put("a").map_err(|e| e.to_string())?;
    d.insert("producer".into(), "put a".into()).map_err(|e| e.to_string()).map(drop)
}

/// A pool task: gets the item and records it in the dict.
fn consumer((d, q): (ByName<Progress>, ByName<MessageQueue>)) -> Result<(), String> {
    let (d, q) = (d.open().map_err(|e| e.to_string())?, q.open().map_err(|e| e.to_string())?);
    let item: String = q.get_timeout(Duration::from_secs(10)).map_err(|e| e.to_string())?;
    d.insert("consumer".into(), format!("got {item}")).map_err(|e| e.to_string()).map(drop)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    shmkit::init();
    let (dname, qname) = (unique("progress-dict"), unique("progress-queue"));
    let progress_dict: Progress = Dict::create(&dname)?;
    let queue = MessageQueue::create(&qname, 10)?;
    let result = run(&progress_dict, &queue);
    Progress::unlink(&dname)?;
    MessageQueue::unlink(&qname)?;
    result
}

fn run(progress_dict: &Progress, queue: &MessageQueue) -> Result<(), Box<dyn std::error::Error>> {
    let mut ps = Vec::new();
    for (key, value) in [("name", "tangrong"), ("age", "18")] {
        let d = progress_dict.try_clone()?;
        let mut p = Process::new(move || {
            if let Err(e) = add_data(&d, key, value) {
                panic!("add_data failed: {e}");
            }
        });
        p.start()?;
        ps.push(p);
    }
    for mut p in ps {
        if p.join()? != 0 {
            return Err(format!("{} failed: {:?}", p.get_name(), p.panic_message()).into());
        }
    }
    println!("{}", show(progress_dict)?);

    // The same dict and a message queue, handed to pool tasks by name.
    progress_dict.clear()?;
    let args = || (ByName::of(progress_dict).expect("named"), ByName::of(queue).expect("named"));
    let mut pool = Pool::new(3)?;
    let produced = pool.apply_async(producer, args());
    let consumed = pool.apply_async(consumer, args());
    pool.close();
    pool.join();
    produced.get()??;
    consumed.get()??;
    println!("pool tasks: {}", show(progress_dict)?);
    Ok(())
}
