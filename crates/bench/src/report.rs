//! The figures of a run and the table they print as.

use std::io::{self, Write};
use std::path::Path;

/// Round-trip statistics in nanoseconds, exact (every sample kept and sorted).
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// The median.
    pub p50: f64,
    /// The 99th percentile.
    pub p99: f64,
    /// The 99.9th percentile.
    pub p999: f64,
    /// The mean.
    pub mean: f64,
    /// How many round trips were timed.
    pub samples: usize,
}

impl Stats {
    /// The statistics of `samples` (nanoseconds each).
    ///
    /// # Panics
    ///
    /// If `samples` is empty.
    pub fn from_nanos(mut samples: Vec<u64>) -> Self {
        assert!(!samples.is_empty(), "no samples");
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)] as f64;
        let mean = samples.iter().sum::<u64>() as f64 / samples.len() as f64;
        Self { p50: at(0.5), p99: at(0.99), p999: at(0.999), mean, samples: samples.len() }
    }
}

/// What one row measured.
#[derive(Clone, Debug, PartialEq)]
pub enum Figure {
    /// Round trips between two processes, timed one by one.
    RoundTrip(Stats),
    /// Bytes one way.
    Throughput {
        /// Bytes per second.
        bytes_per_sec: f64,
        /// How many messages were moved.
        messages: u64,
    },
    /// Nanoseconds per operation, from a long loop timed as a whole.
    PerOp {
        /// Nanoseconds per operation.
        ns: f64,
        /// How many operations were timed.
        ops: u64,
    },
    /// Items one way.
    Rate {
        /// Items per second.
        per_sec: f64,
        /// How many items were moved.
        items: u64,
    },
}

impl Figure {
    /// The figure ratios are taken of: the p50 round trip, nanoseconds per operation,
    /// bytes per second or items per second.
    pub fn headline(&self) -> f64 {
        match self {
            Figure::RoundTrip(s) => s.p50,
            Figure::Throughput { bytes_per_sec, .. } => *bytes_per_sec,
            Figure::PerOp { ns, .. } => *ns,
            Figure::Rate { per_sec, .. } => *per_sec,
        }
    }

    /// Whether larger is better (throughput and rates) rather than smaller (times).
    fn is_speed(&self) -> bool {
        matches!(self, Figure::Throughput { .. } | Figure::Rate { .. })
    }

    /// What was counted, for the footer.
    fn count(&self) -> String {
        match self {
            Figure::RoundTrip(s) => format!("{} round trips", s.samples),
            Figure::Throughput { messages, .. } => format!("{messages} messages"),
            Figure::PerOp { ops, .. } => format!("{ops} operations"),
            Figure::Rate { items, .. } => format!("{items} items"),
        }
    }
}

/// A row's place in the payload sweep: one point of one series of the chart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sweep {
    /// The series, e.g. `unix socketpair`.
    pub series: String,
    /// The payload size in bytes.
    pub bytes: usize,
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// What was measured.
    pub name: String,
    /// The figure.
    pub figure: Figure,
    /// The names of the rows this one is compared with (those that ran).
    pub versus: Vec<String>,
    /// The row's point in the payload sweep, if it is one.
    pub sweep: Option<Sweep>,
    /// For rows compared with the floor: the floor's p50, measured again just before this
    /// row. Machines (virtual ones above all) change speed during a run, so the ratio to
    /// the floor is taken against this adjacent figure.
    pub floor_before: Option<f64>,
}

/// `8 B`, `4 KiB`, `1 MiB`.
pub(crate) fn bytes_label(bytes: f64) -> String {
    match bytes {
        b if b >= (1 << 20) as f64 => format!("{} MiB", b / (1 << 20) as f64),
        b if b >= 1024.0 => format!("{} KiB", b / 1024.0),
        b => format!("{b} B"),
    }
}

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
                r if r < 0.1 => format!("{:.0}x faster than {name}", 1.0 / r),
                r if r > 10.0 && row.figure.is_speed() => format!("{r:.0}x {name}"),
                r => format!("{r:.2}x {name}"),
            }
        };
        let ratios: Vec<String> = row
            .versus
            .iter()
            .filter_map(|v| match row.floor_before {
                Some(f) if v == crate::rows::FLOOR => {
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
        crate::chart::draw(self, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn sizes() {
        assert_eq!(bytes_label(8.0), "8 B");
        assert_eq!(bytes_label(4096.0), "4 KiB");
        assert_eq!(bytes_label((1 << 20) as f64), "1 MiB");
    }

    #[test]
    fn stats_are_exact() {
        let s = Stats::from_nanos((1..=1000).rev().collect());
        assert_eq!((s.p50, s.p99, s.p999, s.mean, s.samples), (501.0, 991.0, 1000.0, 500.5, 1000));
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
        let mut adjacent = row("spin", 150, &[crate::rows::FLOOR]);
        adjacent.floor_before = Some(100.0);
        assert_eq!(report.ratios(&adjacent), "1.50x floor measured just before (100 ns)");
        let mut out = Vec::new();
        report.print(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("0.50x floor; 20x faster than peer"));
        assert!(text.contains("parent pinned to core 0, child to core 1"));
        assert!(text.contains("note: python3 is not here"));
    }
}
