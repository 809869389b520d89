//! Latency histograms recorded where the work happens (vCenter calls, the collector, GraphQL)
//! and exported by `/metrics` (`src/server/metrics.rs`). They live down here, below every layer
//! that records, so the collector and the vCenter client need nothing from the server.
//!
//! Each histogram belongs to the object whose work it times (a connection's client, a
//! collector, a server): there is no process-global recorder, so tests that run many servers
//! and connections in one process each see only their own.

use std::time::Duration;

use prometheus_client::metrics::histogram::Histogram;

/// vCenter calls: a property page answers in milliseconds, a change-feed wait in up to a minute.
pub const VCENTER_CALL_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// GraphQL requests: a snapshot read is sub-millisecond, a page with on-demand reads seconds.
pub const REQUEST_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Collector work: a publish takes milliseconds, a full sync of 45,000 VMs minutes.
pub const WORK_BUCKETS: [f64; 15] = [
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0, 600.0,
];

/// A latency histogram in seconds.
#[derive(Clone, Debug)]
pub struct Timing(Histogram);

impl Timing {
    /// A histogram with these bucket bounds (seconds).
    pub fn new(buckets: &[f64]) -> Timing {
        Timing(Histogram::new(buckets.iter().copied()))
    }

    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        self.0.observe(d.as_secs_f64());
    }

    /// The histogram, for encoding.
    pub fn histogram(&self) -> &Histogram {
        &self.0
    }
}

impl Default for Timing {
    /// Collector work ([`WORK_BUCKETS`]).
    fn default() -> Self {
        Timing::new(&WORK_BUCKETS)
    }
}

/// The collector's periodic cycles besides the change feed, each timed apart.
#[derive(Debug, Default)]
pub struct CycleTimings {
    /// Events and tasks poll.
    pub events: Timing,
    /// Realtime metrics pass.
    pub metrics: Timing,
    /// Metadata refresh (alarm names, tags, privileges).
    pub metadata: Timing,
    /// Session keep-alive check.
    pub sessions: Timing,
}

impl CycleTimings {
    /// `(cycle label, timing)` for each cycle.
    pub fn all(&self) -> [(&'static str, &Timing); 4] {
        [
            ("events", &self.events),
            ("metrics", &self.metrics),
            ("metadata", &self.metadata),
            ("sessions", &self.sessions),
        ]
    }
}

/// DataLoader batches: one key (a lone lookup) to a page of thousands.
pub const BATCH_BUCKETS: [f64; 11] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 5000.0,
];

/// A histogram of sizes (keys per batch), not durations.
#[derive(Clone, Debug)]
pub struct Sizes(Histogram);

impl Sizes {
    /// Records one size.
    pub fn observe(&self, n: usize) {
        self.0.observe(n as f64);
    }

    /// The histogram, for encoding.
    pub fn histogram(&self) -> &Histogram {
        &self.0
    }
}

impl Default for Sizes {
    /// [`BATCH_BUCKETS`].
    fn default() -> Self {
        Sizes(Histogram::new(BATCH_BUCKETS.iter().copied()))
    }
}
