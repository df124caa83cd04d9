//! The Python tutorial's "local sockets": a server binds a socket file, listens, accepts a
//! client and receives its messages until the client ends. Here the server is a
//! `connection::Listener` at a socket file, with an authkey (only clients holding the same
//! key get in), and the client a child process; then a Rust client talks to a Python
//! `multiprocessing.connection.Listener` (skipped, with a message, without `python3`).
//!
//! ```text
//! cargo run --release --example local_socket
//! ```
//!
//! Python (the tutorial's outline, code10.py):
//!
//! ```python
//! sockfd = socket(AF_UNIX, SOCK_STREAM)   # a local socket
//! sockfd.bind(file)                       # bound to a socket file
//! # listen, accept a client connection, receive messages
//! listen() --> accept() --> recv(), end()
//! ```

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use shmkit::connection::{Client, ConnError, Listener, Options};
use shmkit::Process;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let file = std::env::temp_dir().join(format!("local-socket-{}", std::process::id()));
    let opts = Options::new().authkey(b"tutorial").allow_legacy(true);
    let listener = Listener::bind_unix_with(&file, &opts)?; // bind + listen

    let (path, client_opts) = (file.clone(), opts.clone());
    let mut client = Process::new(move || {
        let c = Client::connect_unix_with(&path, &client_opts).expect("connect");
        for text in ["hello", "from the client", "bye"] {
            c.send_bytes(text.as_bytes()).expect("send");
        }
    });
    client.start()?;
    let conn = listener.accept()?; // accept (and check the client's key)
    loop {
        match conn.recv_bytes() {
            Ok(m) => println!("server got: {}", String::from_utf8_lossy(&m)),
            Err(ConnError::Eof) => break, // the client ended
            Err(e) => return Err(e.into()),
        }
    }
    client.join()?;
    drop(listener); // removes the socket file
    println!("socket file removed: {}", !file.exists());

    talk_to_python()
}

/// A Rust client and a Python listener: the Python side upper-cases what it gets.
fn talk_to_python() -> Result<(), Box<dyn std::error::Error>> {
    let file = std::env::temp_dir().join(format!("local-socket-py-{}", std::process::id()));
    let script = r#"
import sys
from multiprocessing.connection import Listener
with Listener(sys.argv[1], authkey=b'tutorial') as l:
    print('ready', flush=True)
    with l.accept() as c:
        c.send_bytes(c.recv_bytes().upper())
"#;
    let Ok(mut py) = Command::new("python3").args(["-c", script]).arg(&file).stdout(Stdio::piped()).spawn()
    else {
        println!("python3 is not installed: the part with Python is skipped");
        return Ok(());
    };
    let mut ready = String::new();
    BufReader::new(py.stdout.take().ok_or("no stdout")?).read_line(&mut ready)?;
    // The machine's python3 may be 3.11, whose handshake is the legacy one.
    let opts = Options::new().authkey(b"tutorial").allow_legacy(true).timeout(Duration::from_secs(10));
    let c = Client::connect_unix_with(&file, &opts)?;
    c.send_bytes(b"hello python")?;
    println!("python answered: {}", String::from_utf8_lossy(&c.recv_bytes()?));
    py.wait()?;
    Ok(())
}
