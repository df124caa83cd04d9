//! Seed 001, "exchanging objects between processes": a child puts a message into a
//! Queue; the parent gets it and prints it.
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
//! message travels as a fixed `[u8; 32]` holding its text, padded with zeros.

mod common;

use std::time::Duration;

use common::{spawn_self, unique, Unlink};
use shmkit::Queue;

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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        let q = Queue::<Message>::open(&args[2])?;
        q.put(encode("[42, None, 'hello']")?)?;
        return Ok(());
    }
    let name = unique("queue-parent-child");
    let q = Queue::<Message>::create(&name, 8)?;
    let _cleanup = Unlink(name.clone());
    let mut child = spawn_self(&["child", &name])?;
    // `q.get()`, with a deadline so that a child that failed cannot hang the parent.
    let msg = q.get_timeout(Duration::from_secs(10))?;
    println!("{}", as_str(&msg)?);
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("the child failed: {status}").into());
    }
    Ok(())
}
