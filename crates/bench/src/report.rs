//! The table a run prints as, and the door to its chart.

use std::io::{self, Write};
use std::path::Path;

use crate::figure::{Figure, Row};
use crate::names::FLOOR;

/// `peer` without the `GROUP: ` it shares with `row` (`sweep 8 B round trip: `), if any.
fn short_name<'a>(row: &str, peer: &'a str) -> &'a str {
    match (row.split_once(": "), peer.split_once(": ")) {
        (Some((a, _)), Some((b, rest))) if a == b => rest,
        _ => peer,
    }
}

/// What the `measured` and `where` columns say, printed above the table.
const LEGEND: [&str; 6] = [
    "measured: round trip, p50 = each round trip (or start+join, connect+accept) timed on its own, in ns:",
    "  p50, p99, p99.9 and mean; ratios compare the p50. one-way (or rate), mean = items or bytes over",
    "  the whole measuring time, the clock read once per batch of 256 items for every row alike; per",
    "  op, mean = ns per operation over a loop timed as a whole. Ratios of rates: above 1 is faster.",
    "where: processes = two processes (the parent and a forked child) pinned to two cores; threads =",
    "  two threads of one process pinned to the same two cores; one process = a single thread.",
];

/// The table of one run: every row, each beside its peers from the same run.
#[derive(Clone, Debug)]
pub struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
    cpus: usize,
    pinned: Option<(usize, usize)>,
}

impl Report {
    pub(crate) fn new(
        rows: Vec<Row>,
        notes: Vec<String>,
        cpus: usize,
        pinned: Option<(usize, usize)>,
    ) -> Self {
        Self { rows, notes, cpus, pinned }
    }

    /// The rows, in the order they ran.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The row named `name`.
    pub fn row(&self, name: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.name == name)
    }

    /// What was skipped and why (e.g. no `python3`).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Whether any row of the payload sweep ran (so there is a chart to draw).
    pub fn has_sweep(&self) -> bool {
        self.rows.iter().any(|r| r.sweep.is_some())
    }

    /// Prints the table: each row's p50, p99, p99.9 and mean round trip in nanoseconds
    /// (or ns per operation, MiB/s, millions of items per second) and its ratio to each
    /// peer, beside what the row measured (one-way or round trip, p50 or mean) and where
    /// (processes, threads, one process); failed rows say why. Then the sample counts,
    /// the cores and the notes.
    ///
    /// # Errors
    ///
    /// Any error writing to `out`.
    pub fn print(&self, out: &mut dyn Write) -> io::Result<()> {
        let w = self.rows.iter().map(|r| r.name.chars().count()).max().unwrap_or(0).max(44);
        writeln!(out)?;
        for line in LEGEND {
            writeln!(out, "{line}")?;
        }
        writeln!(out)?;
        writeln!(
            out,
            "{:<w$} {:<15} {:<11} {:>9} {:>9} {:>9} {:>9} {:>12}  ratio",
            "row", "measured", "where", "p50 ns", "p99", "p99.9", "mean", "MiB/s, M/s"
        )?;
        writeln!(out, "{}", "-".repeat(w + 102))?;
        for row in &self.rows {
            let ratio = self.ratios(row);
            let what =
                format!("{:<w$} {:<15} {:<11}", row.name, row.figure.measured(&row.name), row.place.label());
            let blank = "";
            let line = match &row.figure {
                Figure::RoundTrip(s) => format!(
                    "{what} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {blank:>12}  {ratio}",
                    s.p50, s.p99, s.p999, s.mean
                ),
                Figure::Throughput { bytes_per_sec, .. } => format!(
                    "{what} {blank:>9} {blank:>9} {blank:>9} {blank:>9} {:>12.0}  {ratio}",
                    bytes_per_sec / (1024.0 * 1024.0)
                ),
                Figure::PerOp { ns, .. } => {
                    format!("{what} {blank:>9} {blank:>9} {blank:>9} {ns:>9.1} {blank:>12}  {ratio}")
                }
                Figure::Rate { per_sec, .. } => format!(
                    "{what} {blank:>9} {blank:>9} {blank:>9} {blank:>9} {:>10.1} M  {ratio}",
                    per_sec / 1e6
                ),
                Figure::Failed(why) => format!("{:<w$} FAILED: {why}", row.name),
            };
            writeln!(out, "{}", line.trim_end())?;
        }
        writeln!(out)?;
        for row in &self.rows {
            writeln!(out, "  {}: {}", row.name, row.figure.count())?;
        }
        match self.pinned {
            Some((p, c)) => {
                writeln!(out, "\n{} cores; parent pinned to core {p}, child to core {c}", self.cpus)?
            }
            None => writeln!(out, "\n{} core; not pinned", self.cpus)?,
        }
        for note in &self.notes {
            writeln!(out, "note: {note}")?;
        }
        Ok(())
    }

    /// The ratio column: this row's headline over each peer's that ran.
    fn ratios(&self, row: &Row) -> String {
        if row.figure.is_failed() {
            return String::new();
        }
        let ratio = |peer: &Row| {
            let name = short_name(&row.name, &peer.name);
            match row.figure.headline() / peer.figure.headline() {
                // A tenth of a peer's rate is slower, a tenth of its time faster.
                r if r < 0.1 && row.figure.is_speed() => format!("{:.0}x slower than {name}", 1.0 / r),
                r if r < 0.1 => format!("{:.0}x faster than {name}", 1.0 / r),
                r if r > 10.0 && row.figure.is_speed() => format!("{r:.0}x {name}"),
                r => format!("{r:.2}x {name}"),
            }
        };
        let ratios: Vec<String> = row
            .versus
            .iter()
            .filter_map(|v| match row.floor_before {
                Some(f) if v == FLOOR => {
                    Some(format!("{:.2}x floor measured just before ({f:.0} ns)", row.figure.headline() / f))
                }
                _ => self.row(v).filter(|peer| !peer.figure.is_failed()).map(ratio),
            })
            .collect();
        ratios.join("; ")
    }

    /// Draws the payload sweep as an SVG chart at `path`: the p50 round trip against the
    /// payload size, both on log scales, one line per series, with a legend.
    ///
    /// # Errors
    ///
    /// When no sweep row ran (see [`has_sweep`](Self::has_sweep)), or drawing or writing
    /// the file fails.
    pub fn write_chart(&self, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
        crate::chart::draw(&self.rows, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figure::{Place, Stats};

    fn row(name: &str, p50: u64, versus: &[&str]) -> Row {
        Row {
            name: name.to_owned(),
            figure: Figure::RoundTrip(Stats::from_nanos(vec![p50])),
            place: Place::Processes,
            versus: versus.iter().map(|v| v.to_string()).collect(),
            sweep: None,
            floor_before: None,
        }
    }

    #[test]
    fn ratios_against_the_peers_that_ran() {
        let rows = vec![
            row("floor", 100, &[]),
            row("g: peer", 1000, &[]),
            row("g: mine", 50, &["floor", "g: peer", "missing"]),
            row("other", 200, &["g: peer"]),
        ];
        let report = Report::new(rows, vec!["python3 is not here".into()], 2, Some((0, 1)));
        assert_eq!(report.ratios(&report.rows()[2]), "0.50x floor; 20x faster than peer");
        assert_eq!(report.ratios(&report.rows()[3]), "0.20x g: peer");
        let mut adjacent = row("spin", 150, &[FLOOR]);
        adjacent.floor_before = Some(100.0);
        assert_eq!(report.ratios(&adjacent), "1.50x floor measured just before (100 ns)");
        let mut out = Vec::new();
        report.print(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("0.50x floor; 20x faster than peer"));
        assert!(text.contains("parent pinned to core 0, child to core 1"));
        assert!(text.contains("note: python3 is not here"));
    }

    #[test]
    fn rates_far_below_a_peer_are_slower() {
        let rate = |name: &str, per_sec: f64, versus: &[&str]| Row {
            name: name.to_owned(),
            figure: Figure::Rate { per_sec, items: 1 },
            place: Place::Threads,
            versus: versus.iter().map(|v| v.to_string()).collect(),
            sweep: None,
            floor_before: None,
        };
        let rows =
            vec![rate("peer", 1000.0, &[]), rate("low", 20.0, &["peer"]), rate("high", 50_000.0, &["peer"])];
        let report = Report::new(rows, Vec::new(), 2, None);
        assert_eq!(report.ratios(&report.rows()[1]), "50x slower than peer");
        assert_eq!(report.ratios(&report.rows()[2]), "50x peer");
    }

    #[test]
    fn failed_rows_say_why_and_give_no_ratio() {
        let mut failed = row("peer", 100, &[]);
        failed.figure = Figure::Failed("the child process was killed by signal 9 (SIGKILL)".into());
        let rows = vec![failed, row("mine", 50, &["peer"])];
        let report = Report::new(rows, Vec::new(), 2, Some((0, 1)));
        assert_eq!(report.ratios(&report.rows()[0]), "");
        assert_eq!(report.ratios(&report.rows()[1]), "");
        let mut out = Vec::new();
        report.print(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("FAILED: the child process was killed by signal 9 (SIGKILL)"), "{text}");
        assert!(text.contains("round trip, p50 processes"), "{text}");
    }

    #[test]
    fn no_chart_without_a_sweep() {
        let empty = Report::new(Vec::new(), Vec::new(), 1, None);
        assert!(!empty.has_sweep());
        let path = std::env::temp_dir().join(format!("shmkit-bench-no-chart-{}.svg", std::process::id()));
        assert!(empty.write_chart(&path).is_err());
    }
}
