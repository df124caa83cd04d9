//! Cross-process benchmarks: the suite in `shmkit-bench`, the same one `shmkit bench` runs.
//!
//! `cargo bench --bench ipc` prints one table and writes the payload-sweep chart to
//! `target/shmkit-bench.svg` (under `CARGO_TARGET_DIR` when it is set). Arguments after
//! `--`: a word runs only the rows whose name contains it, `--quick` shortens every row,
//! `--chart PATH` writes the chart there instead.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The spawn rows start this program again: hand those children their work.
    shmkit::init();
    let opts = shmkit_bench::Options::from_args(std::env::args().skip(1));
    let report = shmkit_bench::run(&opts);
    report.print(&mut std::io::stdout().lock())?;
    if report.has_sweep() {
        let path = opts.chart.clone().unwrap_or_else(|| {
            let target =
                std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
            target.join("shmkit-bench.svg")
        });
        report.write_chart(&path)?;
        eprintln!("chart: {}", path.display());
    }
    Ok(())
}
