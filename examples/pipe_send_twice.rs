//! The Python tutorial's "Pipe": a child sends two messages through a duplex pipe and
//! closes its end; the parent receives both, and then sees the end of the pipe.
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
//! The pipe is anonymous (`Pipe::new()`): the child is forked with `child_conn`, and the
//! parent keeps `parent_conn`. Python pickles the list; here the message is a typed
//! tuple, `send`/`recv` of a serde value (encoded with postcard).

mod common;

use shmkit::{Connection, Pipe, Process, RecvError};

/// What the child sends: `[42, None, 'hello from child']` in Python.
type Message = (i32, Option<i32>, String);

fn f(conn: &Connection) -> Result<(), Box<dyn std::error::Error>> {
    conn.send(&(42, None::<i32>, "hello from child"))?;
    conn.send(&(42, None::<i32>, "hello from child2"))?;
    conn.close();
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (parent_conn, child_conn) = Pipe::new()?;
    let mut p = Process::new(move || f(&child_conn).unwrap_or_else(|e| panic!("f: {e}")));
    p.start()?;
    for _ in 0..2 {
        let msg: Message = parent_conn.recv()?;
        println!("{msg:?}");
    }
    match parent_conn.recv::<Message>() {
        Err(RecvError::Disconnected) => println!("(a third recv: the child closed its end)"),
        other => return Err(format!("expected the end of the pipe, got {other:?}").into()),
    }
    common::join_ok(&mut p)
}
