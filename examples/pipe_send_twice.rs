//! Seed 001, "Pipe": a child sends two messages through a duplex pipe and closes its
//! end; the parent receives both, and then sees the end of the pipe.
//!
//! ```text
//! cargo run --example pipe_send_twice
//! ```
//!
//! Python:
//!
//! ```python
//! def f(conn):
//!     conn.send([42, None, 'hello from child'])
//!     conn.send([42, None, 'hello from child2'])
//!     conn.close()
//!
//! if __name__ == '__main__':
//!     parent_conn, child_conn = Pipe()
//!     p = Process(target=f, args=(child_conn,))
//!     p.start()
//!     print(parent_conn.recv())
//!     print(parent_conn.recv())
//!     p.join()
//! ```
//!
//! The pipe is named, so that a child started with `spawn_self` can open its end (an
//! anonymous `Pipe::new()` is inherited across fork). Python pickles the list; here the
//! message is a typed tuple, `send`/`recv` of a serde value (encoded with postcard).

mod common;

use common::{spawn_self, unique, Unlink};
use shmkit::{Connection, OpenOptions, PipeOptions, RecvError};

/// What the child sends: `[42, None, 'hello from child']` in Python.
type Message = (i32, Option<i32>, String);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        let conn = Connection::open(&args[2], &OpenOptions::new())?;
        conn.send(&(42, None::<i32>, "hello from child"))?;
        conn.send(&(42, None::<i32>, "hello from child2"))?;
        conn.close();
        return Ok(());
    }
    let name = unique("pipe-send-twice");
    let parent_conn = Connection::create(&name, &PipeOptions::new())?;
    let _cleanup = Unlink(name.clone());
    let mut child = spawn_self(&["child", &name])?;
    for _ in 0..2 {
        let msg: Message = parent_conn.recv()?;
        println!("{msg:?}");
    }
    match parent_conn.recv::<Message>() {
        Err(RecvError::Disconnected) => println!("(a third recv: the child closed its end)"),
        other => return Err(format!("expected the end of the pipe, got {other:?}").into()),
    }
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("the child failed: {status}").into());
    }
    Ok(())
}
