//! The Python tutorial's "exchanging objects between processes": a child puts a message
//! into a Queue; the parent gets it and prints it.
//!
//! ```text
//! cargo run --example queue_parent_child
//! ```
//!
//! Python:
//!
//! ```python
//! def f(q):
//!     q.put([42, None, 'hello'])
//!
//! if __name__ == '__main__':
//!     q = Queue()
//!     p = Process(target=f, args=(q,))
//!     p.start()
//!     print(q.get())    # prints "[42, None, 'hello']"
//!     p.join()
//! ```
//!
//! A shmkit queue carries plain bytes (`T: bytemuck::Pod`), not pickled objects: the
//! message travels as a fixed `[u8; 32]` holding its text, padded with zeros. The queue
//! is anonymous; the child is forked with a handle of its own (`try_clone`).

mod common;

use std::time::Duration;

use shmkit::{Process, Queue};

/// The message: text padded with zero bytes.
type Message = [u8; 32];

/// `text` as a message; longer text is an error.
fn encode(text: &str) -> Result<Message, String> {
    let mut msg = [0; 32];
    msg.get_mut(..text.len())
        .ok_or(format!("{text:?} is longer than 32 bytes"))?
        .copy_from_slice(text.as_bytes());
    Ok(msg)
}

/// The text of a message: the bytes before the first zero.
fn as_str(msg: &Message) -> Result<&str, std::str::Utf8Error> {
    let len = msg.iter().position(|&b| b == 0).unwrap_or(msg.len());
    std::str::from_utf8(&msg[..len])
}

fn f(q: &Queue<Message>) -> Result<(), Box<dyn std::error::Error>> {
    q.put(encode("[42, None, 'hello']")?)?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let q = Queue::<Message>::anonymous(8)?;
    let child_q = q.try_clone()?;
    let mut p = Process::new(move || f(&child_q).unwrap_or_else(|e| panic!("f: {e}")));
    p.start()?;
    // `q.get()`, with a deadline so that a child that failed cannot hang the parent.
    let msg = q.get_timeout(Duration::from_secs(10))?;
    println!("{}", as_str(&msg)?);
    common::join_ok(&mut p)
}
