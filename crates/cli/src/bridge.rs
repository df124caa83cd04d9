//! `shmkit bridge`: a local queue or pipe carried over Zenoh to another host, no code
//! needed. Linked only with the `zenoh` feature; without it the subcommand says how to get
//! it.
//!
//! ```text
//! host A: shmkit bridge export jobs shmkit/jobs --listen tcp/0.0.0.0:7447
//! host B: shmkit bridge import shmkit/jobs jobs --connect tcp/host-a:7447 --create 1000
//! ```

use clap::{Subcommand, ValueEnum};

/// The two directions of a bridge.
#[derive(Subcommand)]
pub(crate) enum BridgeCommand {
    /// Publish every message put into the local object NAME on the Zenoh key expression
    /// KEYEXPR, until the object is closed (or its writers are gone).
    Export {
        /// The local object (a message queue, or the receive end of a simplex pipe).
        name: String,
        /// The Zenoh key expression to publish on, such as shmkit/jobs.
        keyexpr: String,
        /// What NAME is.
        #[arg(long, value_enum, default_value_t = SourceKind::Mq)]
        kind: SourceKind,
        #[command(flatten)]
        zenoh: Endpoints,
        /// The bridge's state object (its counters, kept across restarts); default NAME.zexport.
        #[arg(long)]
        state: Option<String>,
    },
    /// Put every sample received on the Zenoh key expression KEYEXPR into the local
    /// message queue NAME.
    Import {
        /// The Zenoh key expression to subscribe to (wildcards allowed).
        keyexpr: String,
        /// The local message queue.
        name: String,
        /// What to do when NAME is full.
        #[arg(long, value_enum, default_value_t = Policy::Block)]
        policy: Policy,
        /// Create NAME with this maxsize if it does not exist.
        #[arg(long, value_name = "MAXSIZE")]
        create: Option<usize>,
        #[command(flatten)]
        zenoh: Endpoints,
        /// The bridge's state object (its counters); default NAME.zimport.
        #[arg(long)]
        state: Option<String>,
    },
    /// Show the counters of a bridge's state object (such as jobs.zexport or
    /// jobs.zimport), from any process, while the bridge runs or after it ended.
    Stats {
        /// The state object.
        state: String,
    },
}

/// How the bridge's Zenoh session is reached: peer mode, these endpoints.
#[derive(clap::Args)]
pub(crate) struct Endpoints {
    /// An endpoint to connect to, such as tcp/10.0.0.2:7447 (repeatable).
    #[arg(long, value_name = "ENDPOINT")]
    connect: Vec<String>,
    /// An endpoint to listen on, such as tcp/0.0.0.0:7447 (repeatable).
    #[arg(long, value_name = "ENDPOINT")]
    listen: Vec<String>,
    /// Also find peers by multicast scouting on the local network (off by default).
    #[arg(long)]
    multicast_scouting: bool,
}

/// What an exported object is.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum SourceKind {
    /// A MessageQueue.
    Mq,
    /// The receive end of a named simplex pipe.
    Pipe,
}

/// The importer's backpressure policy.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Policy {
    /// Wait for room (Zenoh then pushes back on the exporter).
    Block,
    /// Take the oldest message out to make room; counted.
    DropOldest,
    /// Drop the incoming message; counted.
    DropNewest,
}

/// Without the `zenoh` feature Zenoh is not linked: say how to get it.
#[cfg(not(feature = "zenoh"))]
pub(crate) fn run(_cmd: BridgeCommand) -> Result<(), String> {
    Err("this shmkit was built without the Zenoh bridge: install it with `--features zenoh` \
         (in a checkout of shmkit: `cargo install --path crates/cli --features zenoh`)"
        .into())
}

#[cfg(feature = "zenoh")]
pub(crate) fn run(cmd: BridgeCommand) -> Result<(), String> {
    with_zenoh::run(cmd).map_err(|e| e.to_string())
}

#[cfg(feature = "zenoh")]
mod with_zenoh {
    use std::io::{IsTerminal, Write};
    use std::time::{Duration, Instant};

    use shmkit_mq::MessageQueue;
    use shmkit_pipe::Receiver;
    use shmkit_zenoh::{
        export, import, Backpressure, BridgeStats, ExportOptions, ImportOptions, ImportStats, Session,
        SessionConfig,
    };

    use super::{BridgeCommand, Endpoints, Policy, SourceKind};

    type Error = Box<dyn std::error::Error>;

    fn session(e: &Endpoints) -> Result<Session, Error> {
        let mut cfg = SessionConfig::peer().multicast_scouting(e.multicast_scouting);
        for l in &e.listen {
            cfg = cfg.listen(l);
        }
        for c in &e.connect {
            cfg = cfg.connect(c);
        }
        Ok(Session::open(&cfg)?)
    }

    pub(super) fn run(cmd: BridgeCommand) -> Result<(), Error> {
        match cmd {
            BridgeCommand::Stats { state } => {
                let (side, counters) = match BridgeStats::read(&state)? {
                    BridgeStats::Export(s) => (
                        "an exporter's",
                        vec![
                            ("taken", s.taken),
                            ("published", s.published),
                            ("bytes", s.bytes),
                            ("restarts", s.restarts),
                            ("lost by crashes, taken but not published", s.crash_unpublished),
                            ("crashes inside a take (one message each, at most)", s.crash_mid_take),
                        ],
                    ),
                    BridgeStats::Import(s) => (
                        "an importer's",
                        vec![
                            ("received", s.received),
                            ("put", s.put),
                            ("bytes", s.bytes),
                            ("dropped oldest", s.dropped_oldest),
                            ("dropped newest", s.dropped_newest),
                            ("malformed", s.malformed),
                            ("lost upstream (gaps)", s.gaps),
                            ("of them while no importer ran", s.missed_while_down),
                            ("late or out of order", s.out_of_order),
                            ("unstamped", s.unstamped),
                            ("restarts", s.restarts),
                        ],
                    ),
                };
                println!("{state}: {side} state");
                for (what, n) in counters {
                    println!("  {what}: {n}");
                }
                Ok(())
            }
            BridgeCommand::Export { name, keyexpr, kind, zenoh, state } => {
                let s = session(&zenoh)?;
                let opts = ExportOptions::new().state(state.unwrap_or_else(|| format!("{name}.zexport")));
                let ex = match kind {
                    SourceKind::Mq => export(&s, MessageQueue::open(&name)?, &keyexpr, &opts)?,
                    SourceKind::Pipe => export(&s, Receiver::open(&name)?, &keyexpr, &opts)?,
                };
                let r = ex.recovered();
                println!(
                    "exporting {name} to {keyexpr}; the previous bridge lost at most {} messages before Zenoh \
                     ({} taken but not published, {} inside a take); numbering goes on from {}",
                    r.at_most_lost(),
                    r.unpublished,
                    r.mid_take,
                    r.next_seq
                );
                let at_start = ex.stats();
                let mut progress = Progress::new(at_start.published, at_start.bytes);
                while !ex.is_finished() {
                    std::thread::sleep(Duration::from_millis(100));
                    let st = ex.stats();
                    progress.show(st.published, st.bytes, 0);
                }
                let st = ex.join()?;
                // Let Zenoh send what it holds before the process ends.
                std::thread::sleep(Duration::from_millis(500));
                progress.end();
                println!("{name} ended: {} messages, {} bytes published", st.published, st.bytes);
                Ok(())
            }
            BridgeCommand::Import { keyexpr, name, policy, create, zenoh, state } => {
                let s = session(&zenoh)?;
                let q = match create {
                    Some(maxsize) => MessageQueue::open_or_create(&name, maxsize)?,
                    None => MessageQueue::open(&name)?,
                };
                let policy = match policy {
                    Policy::Block => Backpressure::Block,
                    Policy::DropOldest => Backpressure::DropOldest,
                    Policy::DropNewest => Backpressure::DropNewest,
                };
                let opts = ImportOptions::new()
                    .backpressure(policy)
                    .state(state.unwrap_or_else(|| format!("{name}.zimport")));
                let im = import(&s, &keyexpr, q, &opts)?;
                let at_start = im.stats();
                if at_start.restarts == 0 {
                    println!("importing {keyexpr} into {name}");
                } else {
                    println!(
                        "importing {keyexpr} into {name}, resuming where the previous importer stopped: what its \
                         sources sent meanwhile and never arrived is counted as lost upstream"
                    );
                }
                let mut progress = Progress::new(at_start.received, at_start.bytes);
                while !im.is_finished() {
                    std::thread::sleep(Duration::from_millis(100));
                    let st: ImportStats = im.stats();
                    progress.show(st.received, st.bytes, st.drops());
                }
                let st = im.join()?;
                progress.end();
                println!(
                    "{name} ended: {} received, {} put, {} dropped, {} lost upstream ({} while no importer ran)",
                    st.received,
                    st.put,
                    st.drops(),
                    st.gaps,
                    st.missed_while_down
                );
                Ok(())
            }
        }
    }

    /// A once-a-second progress line on a terminal (stderr), nothing otherwise.
    struct Progress {
        tty: bool,
        last: Instant,
        msgs: u64,
        bytes: u64,
    }

    impl Progress {
        /// Rates from the counters as they are now (a state object kept from an earlier
        /// run already counts that run's messages).
        fn new(msgs: u64, bytes: u64) -> Self {
            Self { tty: std::io::stderr().is_terminal(), last: Instant::now(), msgs, bytes }
        }

        fn show(&mut self, msgs: u64, bytes: u64, drops: u64) {
            let dt = self.last.elapsed();
            if !self.tty || dt < Duration::from_secs(1) {
                return;
            }
            let secs = dt.as_secs_f64();
            // The counters are in shared memory: never trust them to only grow.
            let rate = msgs.saturating_sub(self.msgs) as f64 / secs;
            let byte_rate = bytes.saturating_sub(self.bytes) as f64 / secs;
            eprint!(
                "\r{rate:>12.0} messages/s {:>10.1} MiB/s  {drops} drops  {msgs} in all ",
                byte_rate / 1048576.0
            );
            let _ = std::io::stderr().flush();
            (self.last, self.msgs, self.bytes) = (Instant::now(), msgs, bytes);
        }

        fn end(&self) {
            if self.tty {
                eprintln!();
            }
        }
    }
}
