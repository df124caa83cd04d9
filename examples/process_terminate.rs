//! The Python tutorial's "killing a process with terminate()" and `p.exitcode`:
//! `terminate` asks the system to end a running child; it is still alive the moment
//! after, dead once joined, and its exit code is minus the signal's number. `None` while
//! it runs.
//!
//! ```text
//! cargo run --release --example process_terminate
//! ```
//!
//! Python:
//!
//! ```python
//! def foo():
//!     print('process start')
//!     time.sleep(10)
//!     print('process end')
//!
//! if __name__ == '__main__':
//!     p = Process(target=foo)
//!     p.start()
//!     p.terminate()         # asks the system to kill the process
//!     print(p.is_alive())   # True
//!     p.join()
//!     print(p.is_alive())   # False
//!     print('主进程')
//!
//! # p.exitcode: None while running; -N if signal N ended it
//! ```
//!
//! A signal is delivered asynchronously: right after `terminate` the child is usually
//! still alive (`true`, as in the tutorial), and may or may not have printed
//! "process start" first, depending on how far it got. After the tutorial's part this program
//! shows every kind of exit code: `kill` (-9), a child that exits with a status of its
//! own, and one that panics (101, its panic message reaching the parent; the child also
//! prints it on stderr, as a Python child prints its traceback).

use std::time::Duration;

use shmkit::Process;

fn foo() {
    println!("process start");
    std::thread::sleep(Duration::from_secs(10));
    println!("process end");
}

fn exit_with(code: i32) {
    std::process::exit(code);
}

fn refuse(what: String) {
    panic!("the child refuses: {what}");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("-- terminate --");
    let mut p = Process::new(foo);
    p.start()?;
    p.terminate()?;
    println!("{}", p.is_alive());
    p.join()?;
    println!("{}", p.is_alive());
    println!("main process");
    println!("exitcode {:?} (SIGTERM is 15)", p.exitcode());

    println!("\n-- exitcode while running, then after kill --");
    let mut p = Process::new(foo).name("sleeper");
    p.start()?;
    std::thread::sleep(Duration::from_millis(100));
    println!("{}: is_alive {}, exitcode {:?}", p.get_name(), p.is_alive(), p.exitcode());
    p.kill()?;
    let code = p.join()?;
    println!("{}: killed: join -> {code}, exitcode {:?} (SIGKILL is 9)", p.get_name(), p.exitcode());

    println!("\n-- a child's own exit status, and a panic --");
    let mut p = Process::call(exit_with, 3);
    p.start()?;
    println!("exit(3): join -> {}", p.join()?);
    let mut p = Process::call(refuse, "to work today".to_owned());
    p.start()?;
    let code = p.join()?;
    println!("panic: join -> {code}, the message the parent got: {:?}", p.panic_message());
    Ok(())
}
