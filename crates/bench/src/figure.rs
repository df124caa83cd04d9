//! What a row measured: the figures, their statistics, the row itself and its place in the
//! payload sweep. The leaf every other module builds on; it imports nothing of the crate.

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
