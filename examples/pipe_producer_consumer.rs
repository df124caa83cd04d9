//! Seed 002, "pipe": a producer process sends "hello" through a pipe; the consumer
//! prints it. A pipe joins exactly two processes, and is faster than a queue.
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
//! A one-way pipe: the consumer (here the parent) creates it and holds the receive end,
//! a `Receiver`; the producer child opens the send end, a `Sender`. Sending on the
//! receive end does not compile.

mod common;

use common::{spawn_self, unique, Unlink};
use shmkit::{OpenOptions, PipeOptions, Receiver, Sender};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("producer") {
        let send_pipe = Sender::open(&args[2], &OpenOptions::new())?;
        send_pipe.send_bytes(b"hello")?;
        return Ok(());
    }
    let name = unique("pipe-producer-consumer");
    let recv_pipe = Receiver::create(&name, &PipeOptions::new())?;
    let _cleanup = Unlink(name.clone());
    let mut producer = spawn_self(&["producer", &name])?;
    println!("{}", String::from_utf8_lossy(&recv_pipe.recv_bytes()?));
    let status = producer.wait()?;
    if !status.success() {
        return Err(format!("the producer failed: {status}").into());
    }
    Ok(())
}
