//! One pipeline over two hosts: a producer on host A puts jobs (a struct of its own, with
//! serde) into a local MessageQueue, the bridge carries them over Zenoh, and a consumer
//! on host B gets them back as that struct, in order, from a MessageQueue of its own.
//! Each side uses plain shmkit locally.
//!
//! ```text
//! cargo run -p shmkit-zenoh --example two_hosts                       # both sides here, over loopback
//! host A: two_hosts export --listen tcp/0.0.0.0:7447 [--jobs 1000]
//! host B: two_hosts import --connect tcp/host-a:7447 [--jobs 1000]
//! ```
//!
//! Run without arguments, it starts both sides as two processes of its own, each with
//! its own Zenoh session, over a free loopback port.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use shmkit_mq::MessageQueue;
use shmkit_zenoh::{export, import, ExportOptions, ImportOptions, Session, SessionConfig};

const KEY: &str = "shmkit/example/jobs";
/// How long either side waits for the other before it gives up.
const PATIENCE: Duration = Duration::from_secs(30);

/// What crosses: any serde type, of any size.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Job {
    id: u32,
    input: String,
}

impl Job {
    fn new(id: u32) -> Self {
        Self { id, input: format!("frame-{id}:").repeat(1 + id as usize % 50) }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None => both_sides_here(),
        Some(side @ ("export" | "import")) => Side::parse(&args[1..]).and_then(|s| match side {
            "export" => s.export(),
            _ => s.import(),
        }),
        Some(other) => Err(format!("unknown side {other:?}: give `export` or `import`, or nothing").into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("two_hosts: {e}");
            ExitCode::FAILURE
        }
    }
}

type Error = Box<dyn std::error::Error>;

/// One side's settings: its Zenoh endpoints, and how many jobs go across.
struct Side {
    config: SessionConfig,
    jobs: u32,
}

impl Side {
    fn parse(args: &[String]) -> Result<Self, Error> {
        let (mut config, mut jobs) = (SessionConfig::peer(), 1000);
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--listen" => config = config.listen(value),
                "--connect" => config = config.connect(value),
                "--jobs" => jobs = value.parse().map_err(|e| format!("--jobs {value}: {e}"))?,
                other => return Err(format!("unknown option {other}").into()),
            }
        }
        Ok(Self { config, jobs })
    }

    /// Host A: a local queue, its exporter, and a producer that puts the jobs and closes
    /// the queue. The exporter ends once the queue is closed and empty; closing the
    /// session then sends what Zenoh still holds.
    fn export(&self) -> Result<(), Error> {
        let session = Session::open(&self.config)?;
        let name = queue_name("a", std::process::id());
        let jobs = MessageQueue::create(&name, 64)?;
        let _unlink = Unlink(name);
        let exporter = export(&session, jobs.try_clone()?, KEY, &ExportOptions::new())?;
        for i in 0..self.jobs {
            // Bounded: with no importer (host B never came, or failed) the queue fills.
            if let Err(e) = jobs.put_timeout(&Job::new(i), PATIENCE) {
                return Err(
                    format!("job {i} not taken within {PATIENCE:?} ({e}): is host B importing?").into()
                );
            }
        }
        jobs.close();
        // The exporter ends once it has published the last job; bounded, should host B
        // go away before taking them all.
        let end = Instant::now() + PATIENCE;
        while !exporter.is_finished() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        if !exporter.is_finished() {
            let left = jobs.len();
            exporter.stop()?;
            return Err(format!("{left} jobs not taken within {PATIENCE:?}: is host B importing?").into());
        }
        let stats = exporter.join()?;
        println!("host A: {} jobs put, {} published on {KEY}", self.jobs, stats.published);
        Ok(())
    }

    /// Host B: a local queue filled by the importer, and a consumer that gets the jobs.
    fn import(&self) -> Result<(), Error> {
        let session = Session::open(&self.config)?;
        let name = queue_name("b", std::process::id());
        let jobs = MessageQueue::create(&name, 64)?;
        let _unlink = Unlink(name);
        let importer = import(&session, KEY, jobs.try_clone()?, &ImportOptions::new())?;
        println!("host B: waiting for {} jobs on {KEY}", self.jobs);
        for i in 0..self.jobs {
            let job: Job = jobs
                .get_timeout(PATIENCE)
                .map_err(|e| format!("job {i} not here within {PATIENCE:?}: {e}"))?;
            if job != Job::new(i) {
                return Err(format!("job {i} expected, {job:?} came").into());
            }
        }
        let stats = importer.stop()?;
        println!(
            "host B: {} jobs got, in order; {} lost upstream, {} dropped",
            self.jobs,
            stats.gaps,
            stats.drops()
        );
        Ok(())
    }
}

/// The local queue of side `a` or `b` in process `pid` (each host names its own; here both
/// run on one host, so they differ).
fn queue_name(side: &str, pid: u32) -> String {
    format!("two-hosts-{side}-{pid}")
}

/// Removes the local queue's name when the side ends.
struct Unlink(String);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = MessageQueue::unlink(&self.0);
    }
}

/// Both sides as two processes of this program, over a loopback port free a moment ago.
/// If one side fails, the other is stopped.
fn both_sides_here() -> Result<(), Error> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let endpoint = format!("tcp/127.0.0.1:{port}");
    let exe = std::env::current_exe()?;
    let a = Child::new(Command::new(&exe).args(["export", "--listen", &endpoint]).spawn()?, "a");
    let b = Child::new(Command::new(&exe).args(["import", "--connect", &endpoint]).spawn()?, "b");
    let mut sides = [("host A", a, None), ("host B", b, None)];
    let end = Instant::now() + 2 * PATIENCE;
    while sides.iter().any(|(_, _, status)| status.is_none()) {
        for (side, child, status) in &mut sides {
            if status.is_none() {
                *status = child.0.try_wait()?;
                if status.is_some_and(|s| !s.success()) {
                    return Err(format!("{side} failed ({})", status.unwrap()).into());
                }
            }
        }
        if Instant::now() > end {
            return Err(format!("the sides did not finish within {:?}", 2 * PATIENCE).into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("one pipeline, two Zenoh sessions: every job crossed in order");
    Ok(())
}

/// A side's process: killed (and reaped) if it is still running when dropped, so that a
/// failed side takes the other down with it; its queue's name is removed then.
struct Child(std::process::Child, String);

impl Child {
    fn new(child: std::process::Child, side: &str) -> Self {
        let queue = queue_name(side, child.id());
        Self(child, queue)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let ended_well = match self.0.try_wait() {
            Ok(Some(status)) => status.success(),
            _ => {
                let _ = self.0.kill();
                let _ = self.0.wait();
                false
            }
        };
        // A side that ended well removed its queue's name itself; one killed (or that
        // died) could not.
        if !ended_well {
            let _ = MessageQueue::unlink(&self.1);
        }
    }
}
