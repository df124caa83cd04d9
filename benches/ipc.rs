//! Cross-process benchmarks: the suite in `shmkit-bench`, the same one `shmkit bench` runs.
//!
//! `cargo bench --bench ipc` prints one table. Arguments after `--`: a word runs only the
//! rows whose name contains it, `--quick` shortens every row.

fn main() -> std::io::Result<()> {
    let opts = shmkit_bench::Options::from_args(std::env::args().skip(1));
    let report = shmkit_bench::run(&opts);
    report.print(&mut std::io::stdout().lock())
}
