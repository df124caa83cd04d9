//! What a row measured: the figures, their statistics, the row itself and its place in the
//! payload sweep. The leaf every other module builds on; it imports nothing of the crate.

/// Round-trip statistics in nanoseconds, exact (every sample kept and sorted).
#[derive(Clone, Copy, Debug, PartialEq)]
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
    /// The row failed: one of its processes died or hung, or it panicked. Why.
    Failed(String),
}

impl Figure {
    /// The figure ratios are taken of: the p50 round trip, nanoseconds per operation,
    /// bytes per second or items per second (NaN for a failed row).
    pub fn headline(&self) -> f64 {
        match self {
            Figure::RoundTrip(s) => s.p50,
            Figure::Throughput { bytes_per_sec, .. } => *bytes_per_sec,
            Figure::PerOp { ns, .. } => *ns,
            Figure::Rate { per_sec, .. } => *per_sec,
            Figure::Failed(_) => f64::NAN,
        }
    }

    /// Whether the row failed.
    pub fn is_failed(&self) -> bool {
        matches!(self, Figure::Failed(_))
    }

    /// What the headline is: one-way or round trip (or per operation), p50 or mean.
    /// `name` is the row's: a rate whose row moves items one way says so.
    pub(crate) fn measured(&self, name: &str) -> &'static str {
        match self {
            Figure::RoundTrip(_) => "round trip, p50",
            Figure::PerOp { .. } => "per op, mean",
            Figure::Throughput { .. } | Figure::Rate { .. } if name.contains("one-way") => "one-way, mean",
            Figure::Throughput { .. } | Figure::Rate { .. } => "rate, mean",
            Figure::Failed(_) => "",
        }
    }

    /// Whether larger is better (throughput and rates) rather than smaller (times).
    pub(crate) fn is_speed(&self) -> bool {
        matches!(self, Figure::Throughput { .. } | Figure::Rate { .. })
    }

    /// What was counted, for the footer.
    pub(crate) fn count(&self) -> String {
        match self {
            Figure::RoundTrip(s) => format!("{} round trips", s.samples),
            Figure::Throughput { messages, .. } => format!("{messages} messages"),
            Figure::PerOp { ops, .. } => format!("{ops} operations"),
            Figure::Rate { items, .. } => format!("{items} items"),
            Figure::Failed(why) => format!("FAILED: {why}"),
        }
    }
}

/// Where a row ran: in one process, between two threads of one process, or across
/// processes (two pinned to two cores, or Python's and the pools' own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Place {
    /// One thread of one process.
    OneProcess,
    /// Two threads of one process, pinned to two cores.
    Threads,
    /// Two (or more) processes.
    Processes,
}

impl Place {
    /// `one process`, `threads`, `processes`.
    pub fn label(self) -> &'static str {
        match self {
            Place::OneProcess => "one process",
            Place::Threads => "threads",
            Place::Processes => "processes",
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
    /// Where it ran.
    pub place: Place,
    /// The names of the rows this one is compared with (those that ran).
    pub versus: Vec<String>,
    /// The row's point in the payload sweep, if it is one.
    pub sweep: Option<Sweep>,
    /// For rows compared with the floor: the floor's p50, measured again just before this
    /// row. Machines (virtual ones above all) change speed during a run, so the ratio to
    /// the floor is taken against this adjacent figure.
    pub floor_before: Option<f64>,
    /// The round it ran in (0 unless the run had several, see
    /// [`Options::rounds`](crate::Options::rounds)).
    pub round: usize,
}

/// `8 B`, `4 KiB`, `1 MiB`.
pub(crate) fn bytes_label(bytes: f64) -> String {
    match bytes {
        b if b >= (1 << 20) as f64 => format!("{} MiB", b / (1 << 20) as f64),
        b if b >= 1024.0 => format!("{} KiB", b / 1024.0),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
