//! The Python tutorial's local-socket server, over shared memory: a server listens at a
//! name instead of a socket file, accepts its clients (each checked with the authkey) and
//! receives their messages until each ends. Clients need only the name and the key; each
//! connection is a pipe of its own, gone when both ends are.
//!
//! ```text
//! cargo run --release --example listener_by_name
//! ```
//!
//! Python (the tutorial's outline, code10.py, with `multiprocessing.connection`):
//!
//! ```python
//! with Listener(address, authkey=b'tutorial') as listener:   # bind + listen
//!     while clients_left:
//!         with listener.accept() as conn:                    # accept
//!             while True:
//!                 try: print(conn.recv_bytes())              # recv
//!                 except EOFError: break                     # end
//! ```

use shmkit::connection::{Client, ConnError, Listener, Options};
use shmkit::Process;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("listener-by-name-{}", std::process::id());
    let opts = Options::new().authkey(b"tutorial");
    let listener = Listener::bind_with(&name, &opts)?; // bind + listen

    let mut clients = Vec::new();
    for who in ["first", "second", "third"] {
        let (name, opts) = (name.clone(), opts.clone());
        let mut p = Process::new(move || {
            let conn = Client::connect_with(&name, &opts).expect("connect");
            for text in [format!("hello from the {who} client"), "bye".to_owned()] {
                conn.send_bytes(text.as_bytes()).expect("send");
            }
        });
        p.start()?;
        clients.push(p);
    }
    for _ in 0..clients.len() {
        let conn = listener.accept()?; // accept (and check the client's key)
        loop {
            match conn.recv_bytes() {
                Ok(m) => println!("server got: {}", String::from_utf8_lossy(&m)),
                Err(ConnError::Eof) => break, // that client ended
                Err(e) => return Err(e.into()),
            }
        }
    }
    for mut p in clients {
        p.join()?;
    }
    // A wrong key is turned away, on both sides.
    let (n, wrong) = (name.clone(), Options::new().authkey(b"guess"));
    let mut intruder = Process::new(move || {
        let refused = matches!(Client::connect_with(&n, &wrong), Err(ConnError::Auth(_)));
        println!("intruder refused: {refused}");
    });
    intruder.start()?;
    println!("server refused the intruder: {}", matches!(listener.accept(), Err(ConnError::Auth(_))));
    intruder.join()?;
    drop(listener); // removes the name
    println!("name removed: {}", !shmkit::segment::exists(&name)?);
    Ok(())
}
