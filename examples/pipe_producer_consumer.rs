//! The Python tutorial's "pipe": a producer process sends "hello" through a pipe; the
//! consumer prints it. A pipe joins exactly two processes, and is faster than a queue.
//!
//! ```text
//! cargo run --example pipe_producer_consumer
//! ```
//!
//! Python:
//!
//! ```python
//! def producer(pipe):
//!     pipe.send("hello")
//!
//! def consumer(pipe):
//!     print(pipe.recv())
//!
//! if __name__ == "__main__":
//!     recv_pipe, send_pipe = Pipe()
//!     my_producer = Process(target=producer, args=(send_pipe,))
//!     my_consumer = Process(target=consumer, args=(recv_pipe,))
//!     my_producer.start(); my_consumer.start()
//!     my_producer.join(); my_consumer.join()
//! ```
//!
//! A one-way pipe, anonymous: `Pipe::simplex()` gives the receive end, a `Receiver`, and
//! the send end, a `Sender`, in Python's order; each child is forked with its end.
//! Sending on the receive end does not compile.

mod common;

use shmkit::{Pipe, Process, Receiver, Sender};

fn producer(pipe: &Sender) -> Result<(), Box<dyn std::error::Error>> {
    pipe.send_bytes(b"hello")?;
    Ok(())
}

fn consumer(pipe: &Receiver) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", String::from_utf8_lossy(&pipe.recv_bytes()?));
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (recv_pipe, send_pipe) = Pipe::simplex()?;
    let mut my_producer =
        Process::new(move || producer(&send_pipe).unwrap_or_else(|e| panic!("producer: {e}")));
    let mut my_consumer =
        Process::new(move || consumer(&recv_pipe).unwrap_or_else(|e| panic!("consumer: {e}")));
    my_producer.start()?;
    my_consumer.start()?;
    for p in [&mut my_producer, &mut my_consumer] {
        common::join_ok(p)?;
    }
    Ok(())
}
