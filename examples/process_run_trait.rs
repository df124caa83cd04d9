//! The Python tutorial's "subclassing Process" (a process whose `run` starts another
//! process), and "starting processes by inheriting from Process": in Rust a type
//! implements [`Run`], and `Process::from_run` makes the process that calls its `run` in
//! a child.
//!
//! ```text
//! cargo run --release --example process_run_trait
//! ```
//!
//! Python (subclassing Process):
//!
//! ```python
//! class progress_get_html(multiprocessing.Process):
//!     def __init__(self, n):
//!         self.n = n
//!         super().__init__()
//!     def run(self):
//!         time.sleep(self.n)
//!         print("sub progress success")
//!
//! class MyProgress(multiprocessing.Process):
//!     def __init__(self, n):
//!         self.n = n
//!         super().__init__()
//!     def run(self):
//!         pro = progress_get_html(self.n)
//!         pro.start()
//!         print("progress end")
//!
//! if __name__ == "__main__":
//!     progress = MyProgress(3)
//!     print(progress.pid)        # None
//!     progress.start()
//!     print(progress.pid)        # 8744
//!     progress.join()            # progress end / sub progress success
//! ```
//!
//! Python (inheriting from Process):
//!
//! ```python
//! class MyProcess(Process):
//!     def __init__(self, name):
//!         super().__init__()
//!         self.name = name
//!     def run(self):
//!         print(os.getpid())
//!         print('%s 正在和女主播聊天' % self.name)    # "... is chatting with a streamer"
//!
//! p1 = MyProcess('wupeiqi'); p2 = MyProcess('yuanhao'); p3 = MyProcess('nezha')
//! p1.start(); p2.start(); p3.start()     # start calls run in the child
//! p1.join(); p2.join(); p3.join()
//! print('主线程')                        # "main thread"
//! ```
//!
//! `__init__`'s fields are the struct's fields; the process's name, which the tutorial sets
//! with `self.name = name`, is given to the `Process` (`.name(..)`), and `run` reads it
//! back with `current_process().name`. `run` takes `self`, so it cannot return an error:
//! a failure in it panics, and the parent reads the panic message.
//!
//! Python joins, before a process exits, the children it left running: `MyProgress`'s
//! child ends before it, and the parent's `join` waits for both. shmkit does not, so
//! `MyProgress::run` joins its child itself. One second of the tutorial is 100 ms here.

use std::time::Duration;

use shmkit::{current_process, Process, Run};

/// One of the tutorial's seconds.
const UNIT: Duration = Duration::from_millis(100);

/// The tutorial's `progress_get_html`: sleeps `n` units.
struct ProgressGetHtml {
    n: u32,
}

impl Run for ProgressGetHtml {
    fn run(self) {
        std::thread::sleep(UNIT * self.n);
        println!("sub progress success");
    }
}

/// The tutorial's `MyProgress`: starts a `ProgressGetHtml` from its own child.
struct MyProgress {
    n: u32,
}

impl Run for MyProgress {
    fn run(self) {
        let mut pro = Process::from_run(ProgressGetHtml { n: self.n });
        if let Err(e) = pro.start() {
            panic!("cannot start progress_get_html: {e}");
        }
        println!("progress end");
        // What Python does when this process exits.
        match pro.join() {
            Ok(0) => {}
            Ok(code) => panic!("progress_get_html ended with exit code {code}"),
            Err(e) => panic!("cannot join progress_get_html: {e}"),
        }
    }
}

/// The tutorial's `MyProcess`.
struct MyProcess;

impl MyProcess {
    /// `MyProcess(name)`: the process, named.
    #[allow(clippy::new_ret_no_self)]
    fn new(name: &str) -> Process {
        Process::from_run(MyProcess).name(name)
    }
}

impl Run for MyProcess {
    fn run(self) {
        println!("{}", std::process::id());
        println!("{} is chatting with a live streamer", current_process().name);
    }
}

/// `p.join()`, and an error if the child failed.
fn join(p: &mut Process) -> Result<(), Box<dyn std::error::Error>> {
    match p.join()? {
        0 => Ok(()),
        code => Err(format!("{} ended with exit code {code}: {:?}", p.get_name(), p.panic_message()).into()),
    }
}

/// Python's `print(p.pid)`: the number, or `None` before `start`.
fn pid(p: &Process) -> String {
    p.pid().map_or_else(|| "None".to_owned(), |pid| pid.to_string())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("-- subclassing: MyProgress starts progress_get_html --");
    let mut progress = Process::from_run(MyProgress { n: 3 });
    println!("{}", pid(&progress));
    progress.start()?;
    println!("{}", pid(&progress));
    join(&mut progress)?;

    println!("\n-- inheriting: MyProcess with a name --");
    let mut p1 = MyProcess::new("wupeiqi");
    let mut p2 = MyProcess::new("yuanhao");
    let mut p3 = MyProcess::new("nezha");
    p1.start()?; // start calls run in the child
    p2.start()?;
    p3.start()?;
    join(&mut p1)?;
    join(&mut p2)?;
    join(&mut p3)?;
    println!("main thread");
    Ok(())
}
