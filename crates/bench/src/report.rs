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

    /// Every row of every round, in the order they ran.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// How many rounds ran.
    pub fn rounds(&self) -> usize {
        self.rows.iter().map(|r| r.round + 1).max().unwrap_or(1)
    }

    /// The row named `name`: with several rounds, its median round's (by the headline
    /// figure; a failed round only if every round failed).
    pub fn row(&self, name: &str) -> Option<&Row> {
        let all: Vec<&Row> = self.rows.iter().filter(|r| r.name == name).collect();
        let mut ok: Vec<&Row> = all.iter().copied().filter(|r| !r.figure.is_failed()).collect();
        ok.sort_by(|a, b| a.figure.headline().total_cmp(&b.figure.headline()));
        ok.get(ok.len() / 2).or(all.first()).copied()
    }

    /// One row per name, in the order they first ran: each its median round's.
    fn summary(&self) -> Vec<&Row> {
        let mut seen = std::collections::HashSet::new();
        self.rows.iter().filter(|r| seen.insert(r.name.as_str())).filter_map(|r| self.row(&r.name)).collect()
    }

    /// The row `name` of round `round`, unless it failed.
    fn in_round(&self, name: &str, round: usize) -> Option<&Row> {
        self.rows.iter().find(|r| r.name == name && r.round == round && !r.figure.is_failed())
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
        let summary = self.summary();
        for &row in &summary {
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
        let rounds = self.rounds();
        if rounds > 1 {
            writeln!(
                out,
                "{rounds} rounds, each running every row in turn: figures are each row's median round, \
                 ratios the median of the per-round ratios [lowest-highest]"
            )?;
        }
        for &row in &summary {
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

    /// The ratio column: this row's headline over each peer's that ran, in the same round
    /// (with several rounds, the median ratio and the range).
    fn ratios(&self, row: &Row) -> String {
        if row.figure.is_failed() {
            return String::new();
        }
        let speed = row.figure.is_speed();
        let ratios: Vec<String> = row
            .versus
            .iter()
            .filter_map(|v| {
                let per_round: Vec<f64> = (0..self.rounds())
                    .filter_map(|round| {
                        let mine = if round == row.round { row } else { self.in_round(&row.name, round)? };
                        let peer = match mine.floor_before {
                            Some(f) if v == FLOOR => f,
                            _ => self.in_round(v, round)?.figure.headline(),
                        };
                        Some(mine.figure.headline() / peer)
                    })
                    .collect();
                let text = match row.floor_before {
                    Some(f) if v == FLOOR => {
                        format!("{:.2}x floor measured just before ({f:.0} ns)", median(&per_round)?)
                    }
                    _ => ratio_text(median(&per_round)?, speed, short_name(&row.name, v)),
                };
                Some(match spread(&per_round) {
                    Some((lo, hi)) => format!("{text} [{}]", range_text(lo, hi, median(&per_round)?, speed)),
                    None => text,
                })
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
        let rows: Vec<Row> = self.summary().into_iter().cloned().collect();
        crate::chart::draw(&rows, path)
    }
}

/// How a ratio reads: a tenth of a peer's rate is slower, a tenth of its time faster.
fn ratio_text(r: f64, speed: bool, name: &str) -> String {
    match r {
        r if r < 0.1 && speed => format!("{:.0}x slower than {name}", 1.0 / r),
        r if r < 0.1 => format!("{:.0}x faster than {name}", 1.0 / r),
        r if r > 10.0 && speed => format!("{r:.0}x {name}"),
        r => format!("{r:.2}x {name}"),
    }
}

/// The range of a ratio over the rounds, in the form its median is printed in: as
/// `lo-hi`, or, where the median reads "N x faster" (or slower) or the low end would
/// round to nothing, as the same inverse.
fn range_text(lo: f64, hi: f64, median: f64, speed: bool) -> String {
    if median < 0.1 || lo < 0.01 {
        let precise = |v: f64| if v < 10.0 { format!("{v:.2}") } else { format!("{v:.0}") };
        format!("{}-{}{}", precise(1.0 / hi), precise(1.0 / lo), if speed { "x slower" } else { "x faster" })
    } else {
        format!("{lo:.2}-{hi:.2}")
    }
}

/// The median of `xs` (the upper one of an even count), if any.
fn median(xs: &[f64]) -> Option<f64> {
    let mut xs = xs.to_vec();
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied()
}

/// The lowest and highest of `xs`, when there are two or more.
fn spread(xs: &[f64]) -> Option<(f64, f64)> {
    (xs.len() > 1).then(|| {
        (
            xs.iter().copied().fold(f64::INFINITY, f64::min),
            xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        )
    })
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
            round: 0,
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
    fn rounds_pair_each_row_with_its_peer_of_the_same_round() {
        let in_round =
            |name: &str, p50: u64, versus: &[&str], round: usize| Row { round, ..row(name, p50, versus) };
        // The machine is twice as fast in round 1: per round the row is 0.5x, 0.5x and
        // 0.6x its peer, though across rounds it would look 0.25x or 1.2x.
        let rows = vec![
            in_round("peer", 200, &[], 0),
            in_round("mine", 100, &["peer"], 0),
            in_round("peer", 100, &[], 1),
            in_round("mine", 50, &["peer"], 1),
            in_round("peer", 200, &[], 2),
            in_round("mine", 120, &["peer"], 2),
        ];
        let report = Report::new(rows, Vec::new(), 2, None);
        assert_eq!(report.rounds(), 3);
        let mine = report.row("mine").unwrap();
        assert_eq!((mine.round, mine.figure.headline()), (0, 100.0), "the median round's figure");
        assert_eq!(report.ratios(mine), "0.50x peer [0.50-0.60]");
        let far = Report::new(
            vec![
                in_round("peer", 1000, &[], 0),
                in_round("fast", 10, &["peer"], 0),
                in_round("peer", 1000, &[], 1),
                in_round("fast", 20, &["peer"], 1),
            ],
            Vec::new(),
            2,
            None,
        );
        assert_eq!(far.ratios(far.row("fast").unwrap()), "50x faster than peer [50-100x faster]");
        let mut out = Vec::new();
        report.print(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("0.50x peer [0.50-0.60]").count(), 1, "one line per row: {text}");
        assert!(text.contains("3 rounds"), "{text}");
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
            round: 0,
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
