//! shmkit's benchmark suite: every primitive across two real processes, each figure beside
//! its peers measured in the same run — the floor (one cache line), the kernel (pipe,
//! socketpair, futex), other crates (`shared_memory` + `raw_sync`; `rtrb` and crossbeam's
//! `ArrayQueue` between two threads) and Python's `multiprocessing` — with the ratio.
//!
//! `cargo bench -p shmkit-bench --bench ipc` and the `shmkit bench` command (built with
//! `--features bench`) both call [`run`], which returns a [`Report`]: one table
//! ([`Report::print`]) and a chart of round trip against payload size
//! ([`Report::write_chart`]).
//!
//! Method: fork two processes, the parent and the child of the row, pinned to different
//! cores when there are two, warm up, then measure. Round trips are timed one by one (one
//! clock read per round trip) for at least the measuring time, into a sample buffer
//! allocated and written through before the timing starts; every sample is kept and
//! sorted, so p50/p99/p99.9 are exact, not bucketed. One-way rows move items for the
//! measuring time, reading the clock once per batch of 256 items, never per item, the
//! in-process peers (two threads) alike. The floor is measured again just before each row
//! compared with it. Every row says what it measured (one-way or round trip, p50 or mean)
//! and where (processes, threads, one process). A row whose process dies (a panic, a
//! signal) or hangs past a generous limit is killed and reported as failed, and the run
//! goes on. `--rounds N` runs the whole selection N times over, so that every row meets its
//! peers in each round; the report then gives each row's median round and the median of
//! its per-round ratios, with their range. The Python rows run `python3` when it is on `PATH` (timed by Python itself,
//! the same way), and are skipped with a note when it is not.
//!
//! # Examples
//!
//! ```no_run
//! use shmkit_bench::{run, Options};
//!
//! let opts = Options::from_args(["--quick", "sweep"].map(String::from));
//! let report = run(&opts);
//! report.print(&mut std::io::stdout())?;
//! report.write_chart(std::path::Path::new("sweep.svg"))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::PathBuf;

// The modules form layers; each imports only from modules in earlier layers:
// `figure`, `names` (leaves); `harness`; `kernel`, `peers`; `rows`; `chart`; `report`;
// and this file, which hands `kernel::floor` to the collector and turns its outcome
// into the `Report`.
mod chart;
mod figure;
mod harness;
mod kernel;
mod names;
mod peers;
mod report;
mod rows;

pub use figure::{Figure, Place, Row, Stats, Sweep};
pub use report::Report;

/// What to run, and how long.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Shorter warm-up and measurement (20 ms and 100 ms per row instead of 100 ms and
    /// 500 ms): the whole suite in well under a minute, with noisier figures.
    pub quick: bool,
    /// Run only the rows whose name contains this.
    pub filter: Option<String>,
    /// Where the caller writes the chart ([`Report::write_chart`]); [`run`] does not read
    /// it.
    pub chart: Option<PathBuf>,
    /// How many times to run the selected rows, one whole pass after another (0 and 1:
    /// once). Each row then meets its peers in every round, so a machine that changes
    /// speed part-way through cannot favour one: the report gives each row's median round
    /// and the median of its per-round ratios, with their range.
    pub rounds: usize,
}

impl Options {
    /// Options from command-line arguments (without the program name): `--quick`,
    /// `--chart PATH` (or `--chart=PATH`), `--rounds N` (or `--rounds=N`), and the first argument that is not a flag as
    /// the filter. Other flags, such as the `--bench` that cargo passes, are ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit_bench::Options;
    ///
    /// let o = Options::from_args(["--quick", "Queue", "--bench"].map(String::from));
    /// assert!(o.quick);
    /// assert_eq!(o.filter.as_deref(), Some("Queue"));
    /// assert_eq!(o.chart, None);
    /// ```
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Self {
        let mut opts = Self::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "--quick" {
                opts.quick = true;
            } else if arg == "--chart" {
                opts.chart = args.next().map(PathBuf::from);
            } else if let Some(path) = arg.strip_prefix("--chart=") {
                opts.chart = Some(PathBuf::from(path));
            } else if arg == "--rounds" {
                // A word that is not a number is the filter, not the count.
                if let Some(n) = args.next() {
                    match n.parse() {
                        Ok(n) => opts.rounds = n,
                        Err(_) if opts.filter.is_none() && !n.starts_with('-') => opts.filter = Some(n),
                        Err(_) => {}
                    }
                }
            } else if let Some(n) = arg.strip_prefix("--rounds=") {
                opts.rounds = n.parse().unwrap_or(1);
            } else if arg.starts_with('-') {
                // cargo's `--bench`, and anything else that is not ours.
            } else if opts.filter.is_none() {
                opts.filter = Some(arg);
            }
        }
        opts
    }
}

/// Runs every row that `opts.filter` selects, printing `running NAME ...` to standard
/// error before each, and returns the table.
///
/// It forks child processes, pins this process and its children to cores (the affinity
/// is restored before it returns), and ignores `SIGPIPE` while it runs. Call it from a
/// single-threaded program: a row's child process runs code other than `exec` after
/// `fork`.
pub fn run(opts: &Options) -> Report {
    let timing = harness::Timing::new(opts.quick);
    let mut bench = harness::Bench::new(opts.filter.clone(), timing, kernel::floor);
    for round in 0..opts.rounds.max(1) {
        bench.start_round(round);
        rows::all(&mut bench);
    }
    let out = bench.finish();
    Report::new(out.rows, out.notes, out.cpus.count, out.cpus.pair)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Options {
        Options::from_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn arguments() {
        assert_eq!(parse(&[]), Options::default());
        assert_eq!(parse(&["--bench"]), Options::default());
        let o = parse(&["--chart", "out.svg", "sweep", "other", "--quick"]);
        assert_eq!(
            o,
            Options { quick: true, filter: Some("sweep".into()), chart: Some("out.svg".into()), rounds: 0 }
        );
        assert_eq!(parse(&["--rounds", "3"]).rounds, 3);
        assert_eq!(parse(&["--rounds=5", "x"]).rounds, 5);
        let o = parse(&["--rounds", "sweep"]);
        assert_eq!((o.rounds, o.filter.as_deref()), (0, Some("sweep")));
        assert_eq!(parse(&["--chart=a.svg"]).chart, Some(PathBuf::from("a.svg")));
    }

    #[test]
    fn runs_the_selected_rows_across_two_processes() {
        let opts = Options { quick: true, filter: Some("floor".into()), ..Options::default() };
        let report = run(&opts);
        assert_eq!(report.rows().len(), 1, "{:?}", report.rows());
        let Figure::RoundTrip(stats) = &report.rows()[0].figure else { panic!("not a round trip") };
        assert!(stats.samples >= 1000 && stats.p50 > 0.0 && stats.p50 <= stats.p99);
        assert!(!report.has_sweep());
    }
}
