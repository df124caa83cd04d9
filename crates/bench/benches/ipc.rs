//! Cross-process benchmarks: the suite in `shmkit-bench`, the same one `shmkit bench` runs.
//!
//! `cargo bench -p shmkit-bench --bench ipc` prints one table and writes the
//! payload-sweep chart to `shmkit-bench.svg` in the target directory (`target/`, or
//! `CARGO_TARGET_DIR` when it is set). Arguments after `--`: a word runs only the rows
//! whose name contains it, `--quick` shortens every row, `--rounds N` runs the selection N
//! times over (see `Options::rounds`), `--chart PATH` writes the chart there instead.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The spawn rows start this program again: hand those children their work.
    shmkit_process::init();
    let opts = shmkit_bench::Options::from_args(std::env::args().skip(1));
    let report = shmkit_bench::run(&opts);
    report.print(&mut std::io::stdout().lock())?;
    if report.has_sweep() {
        let path = opts.chart.clone().unwrap_or_else(|| target_dir().join("shmkit-bench.svg"));
        report.write_chart(&path)?;
        eprintln!("chart: {}", path.display());
    }
    Ok(())
}

/// The target directory: `CARGO_TARGET_DIR` when set, else the one this benchmark was
/// built in (`<target>/<profile>/deps/ipc-<hash>`; cargo runs it from the package's own
/// directory, so a relative `target` would land in `crates/bench`).
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().ok();
    exe.as_deref().and_then(|e| e.ancestors().nth(3)).map_or_else(|| PathBuf::from("target"), PathBuf::from)
}
