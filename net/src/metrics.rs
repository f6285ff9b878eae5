//! Server metrics, one block per core (relaxed atomics, written only by their core), summed
//! when `/metrics` renders them as Prometheus text.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::service::status;

/// Upper bounds (seconds) of the request latency histogram buckets.
pub const LATENCY_BUCKETS_S: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
/// Ops with their own latency histogram; anything else counts as `other`.
pub const OPS: [&str; 4] = ["bytecode", "eval", "authentication", "other"];

/// Latency histogram of one op.
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS_S.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

/// The counters of one core.
#[derive(Default)]
pub struct CoreMetrics {
    connections: AtomicI64,
    connections_total: AtomicU64,
    /// Final responses by status code, indexed like [`status::ALL`].
    responses: [AtomicU64; status::ALL.len()],
    latency: [Histogram; OPS.len()],
    protocol_errors: AtomicU64,
}

impl CoreMetrics {
    pub fn connection_opened(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// Open connections on this core.
    pub fn connections(&self) -> i64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// A WebSocket or HTTP protocol violation by a peer.
    pub fn protocol_error(&self) {
        self.protocol_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A final response with `code` to an `op` request that took `elapsed`.
    pub fn request_done(&self, op: &str, code: u16, elapsed: Duration) {
        if let Some(i) = status::ALL.iter().position(|&c| c == code) {
            self.responses[i].fetch_add(1, Ordering::Relaxed);
        }
        let op_index = OPS.iter().position(|&o| o == op).unwrap_or(OPS.len() - 1);
        let h = &self.latency[op_index];
        let seconds = elapsed.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS_S.iter().zip(&h.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        h.count.fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        h.sum_us.fetch_add(us, Ordering::Relaxed);
    }
}

/// Metrics of all cores.
pub struct Metrics {
    cores: Vec<CoreMetrics>,
}

impl Metrics {
    /// Metrics for `cores` cores (at least one).
    pub fn new(cores: usize) -> Metrics {
        Metrics {
            cores: (0..cores.max(1)).map(|_| CoreMetrics::default()).collect(),
        }
    }

    /// The block of core `i` (the last one if out of range).
    pub fn core(&self, i: usize) -> &CoreMetrics {
        let last = self.cores.len().saturating_sub(1);
        &self.cores[i.min(last)]
    }

    /// Open connections summed over cores.
    pub fn connections(&self) -> i64 {
        self.cores.iter().map(CoreMetrics::connections).sum()
    }

    /// Final responses with `code`, summed over cores.
    pub fn responses(&self, code: u16) -> u64 {
        let Some(i) = status::ALL.iter().position(|&c| c == code) else {
            return 0;
        };
        self.cores
            .iter()
            .map(|c| c.responses[i].load(Ordering::Relaxed))
            .sum()
    }

    /// Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let sum = |f: &dyn Fn(&CoreMetrics) -> u64| -> u64 { self.cores.iter().map(f).sum() };
        let _ = writeln!(
            out,
            "# HELP coregraph_connections Open Gremlin connections per core."
        );
        let _ = writeln!(out, "# TYPE coregraph_connections gauge");
        for (i, c) in self.cores.iter().enumerate() {
            let _ = writeln!(
                out,
                "coregraph_connections{{core=\"{i}\"}} {}",
                c.connections()
            );
        }
        let _ = writeln!(
            out,
            "# HELP coregraph_connections_total Gremlin connections accepted per core."
        );
        let _ = writeln!(out, "# TYPE coregraph_connections_total counter");
        for (i, c) in self.cores.iter().enumerate() {
            let n = c.connections_total.load(Ordering::Relaxed);
            let _ = writeln!(out, "coregraph_connections_total{{core=\"{i}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP coregraph_responses_total Final responses by status code."
        );
        let _ = writeln!(out, "# TYPE coregraph_responses_total counter");
        for code in status::ALL {
            let _ = writeln!(
                out,
                "coregraph_responses_total{{code=\"{code}\"}} {}",
                self.responses(code)
            );
        }
        let _ = writeln!(out, "# HELP coregraph_request_errors_total Requests that ended with an error status (>= 400, 407 excluded).");
        let _ = writeln!(out, "# TYPE coregraph_request_errors_total counter");
        let errors: u64 = status::ALL
            .iter()
            .filter(|&&c| c >= 400 && c != status::AUTHENTICATE)
            .map(|&c| self.responses(c))
            .sum();
        let _ = writeln!(out, "coregraph_request_errors_total {errors}");
        let _ = writeln!(out, "# HELP coregraph_protocol_errors_total WebSocket or HTTP protocol violations by peers.");
        let _ = writeln!(out, "# TYPE coregraph_protocol_errors_total counter");
        let n = sum(&|c| c.protocol_errors.load(Ordering::Relaxed));
        let _ = writeln!(out, "coregraph_protocol_errors_total {n}");
        let _ = writeln!(out, "# HELP coregraph_request_duration_seconds Request latency, first byte in to final response queued.");
        let _ = writeln!(out, "# TYPE coregraph_request_duration_seconds histogram");
        for (oi, op) in OPS.iter().enumerate() {
            for (bi, bound) in LATENCY_BUCKETS_S.iter().enumerate() {
                let n = sum(&|c| c.latency[oi].buckets[bi].load(Ordering::Relaxed));
                let _ = writeln!(
                    out,
                    "coregraph_request_duration_seconds_bucket{{op=\"{op}\",le=\"{bound}\"}} {n}"
                );
            }
            let count = sum(&|c| c.latency[oi].count.load(Ordering::Relaxed));
            let sum_us = sum(&|c| c.latency[oi].sum_us.load(Ordering::Relaxed));
            let _ = writeln!(
                out,
                "coregraph_request_duration_seconds_bucket{{op=\"{op}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "coregraph_request_duration_seconds_sum{{op=\"{op}\"}} {}",
                sum_us as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "coregraph_request_duration_seconds_count{{op=\"{op}\"}} {count}"
            );
        }
        out
    }
}
