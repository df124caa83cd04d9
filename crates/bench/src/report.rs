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
    /// peer; then the sample counts, the cores and the notes.
    ///
    /// # Errors
    ///
    /// Any error writing to `out`.
    pub fn print(&self, out: &mut dyn Write) -> io::Result<()> {
        let w = self.rows.iter().map(|r| r.name.chars().count()).max().unwrap_or(0).max(44);
        writeln!(out)?;
        writeln!(
            out,
            "{:<w$} {:>9} {:>9} {:>9} {:>9} {:>12}  ratio",
            "round trip (ns) / throughput", "p50", "p99", "p99.9", "mean", "MiB/s, M/s"
        )?;
        writeln!(out, "{}", "-".repeat(w + 74))?;
        for row in &self.rows {
            let ratio = self.ratios(row);
            let line = match &row.figure {
                Figure::RoundTrip(s) => format!(
                    "{:<w$} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>12}  {ratio}",
                    row.name, s.p50, s.p99, s.p999, s.mean, ""
                ),
                Figure::Throughput { bytes_per_sec, .. } => format!(
                    "{:<w$} {:>9} {:>9} {:>9} {:>9} {:>12.0}  {ratio}",
                    row.name,
                    "",
                    "",
                    "",
                    "",
                    bytes_per_sec / (1024.0 * 1024.0)
                ),
                Figure::PerOp { ns, .. } => {
                    format!("{:<w$} {:>9} {:>9} {:>9} {:>9.1} {:>12}  {ratio}", row.name, "", "", "", ns, "")
                }
                Figure::Rate { per_sec, .. } => format!(
                    "{:<w$} {:>9} {:>9} {:>9} {:>9} {:>10.1} M  {ratio}",
                    row.name,
                    "",
                    "",
                    "",
                    "",
                    per_sec / 1e6
                ),
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
                _ => self.row(v).map(ratio),
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
    use crate::figure::Stats;

    fn row(name: &str, p50: u64, versus: &[&str]) -> Row {
        Row {
            name: name.to_owned(),
            figure: Figure::RoundTrip(Stats::from_nanos(vec![p50])),
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
    fn no_chart_without_a_sweep() {
        let empty = Report::new(Vec::new(), Vec::new(), 1, None);
        assert!(!empty.has_sweep());
        let path = std::env::temp_dir().join(format!("shmkit-bench-no-chart-{}.svg", std::process::id()));
        assert!(empty.write_chart(&path).is_err());
    }
}
