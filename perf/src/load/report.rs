//! Reports of the load generator: per workload and operation, throughput, latency
//! percentiles (p50/p90/p99/p99.9/max from hdrhistogram) and errors by status code; written
//! as text, JSON and a hand-written SVG latency-percentile plot. Also the tiny HTTP GET used
//! to scrape the server's admin `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use gremlin::codec::json::write_string;
use hdrhistogram::Histogram;

/// Points of each percentile curve (JSON and SVG).
pub const CURVE_POINTS: usize = 101;
/// The curve's highest percentile, as its "nines": 5 = 99.999%.
pub const CURVE_NINES: f64 = 5.0;
/// Largest HTTP answer read from the admin port.
const HTTP_RESPONSE_BYTES_MAX: u64 = 8 << 20;
/// Connect/read timeout of the admin scrape.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// One operation's figures (latencies in microseconds).
#[derive(Clone, Debug, PartialEq)]
pub struct OpReport {
    pub op: String,
    pub text: String,
    /// Successful requests started in the measured window.
    pub count: u64,
    pub throughput_per_s: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
    /// Failed requests by status code (or `io`, `no-response`, `encode`).
    pub errors: BTreeMap<String, u64>,
    /// (percentile in %, latency us) along the curve.
    pub curve: Vec<(f64, u64)>,
}

impl OpReport {
    /// Figures from a histogram of successful latencies.
    pub fn from_histogram(
        op: &str,
        text: &str,
        hist: &Histogram<u64>,
        ok: u64,
        errors: &BTreeMap<String, u64>,
        secs: f64,
    ) -> OpReport {
        let q = |p: f64| {
            if hist.is_empty() {
                0
            } else {
                hist.value_at_quantile(p)
            }
        };
        let curve = if hist.is_empty() {
            Vec::new()
        } else {
            (0..CURVE_POINTS)
                .map(|k| {
                    let nines = CURVE_NINES * k as f64 / (CURVE_POINTS - 1) as f64;
                    let p = 1.0 - 10f64.powf(-nines);
                    (p * 100.0, hist.value_at_quantile(p))
                })
                .collect()
        };
        OpReport {
            op: op.to_string(),
            text: text.to_string(),
            count: ok,
            throughput_per_s: ok as f64 / secs.max(1e-9),
            p50_us: q(0.50),
            p90_us: q(0.90),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: if hist.is_empty() { 0 } else { hist.max() },
            mean_us: if hist.is_empty() { 0.0 } else { hist.mean() },
            errors: errors.clone(),
            curve,
        }
    }

    /// Failed requests in total.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// One workload's run.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadReport {
    pub workload: String,
    pub mode: String,
    pub connections: usize,
    /// Connections that completed the upgrade.
    pub connected: usize,
    pub cpus: Vec<usize>,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub ops: Vec<OpReport>,
    /// Open loop: p50, p99 and max of how late the generator sent requests after their
    /// scheduled start, microseconds (included in the latencies; large values mean the
    /// generator, not the server, fell behind).
    pub send_lag_us: Option<[u64; 3]>,
    /// Successful measured requests per second of each connection.
    pub per_connection_rps: Vec<f64>,
    /// How our connections landed on the server's cores (from its admin `/metrics`).
    pub server_connections_per_core: Option<Vec<u64>>,
    /// Connection-level failures (connect, protocol, unmatched responses, admin scrape).
    pub other_errors: BTreeMap<String, u64>,
}

impl WorkloadReport {
    /// Successful requests of every op.
    pub fn total_count(&self) -> u64 {
        self.ops.iter().map(|o| o.count).sum()
    }

    /// (min, median, max) of the per-connection throughputs.
    pub fn connection_spread(&self) -> (f64, f64, f64) {
        let mut v = self.per_connection_rps.clone();
        v.sort_by(f64::total_cmp);
        let get = |i: usize| v.get(i).copied().unwrap_or(0.0);
        (get(0), get(v.len() / 2), get(v.len().saturating_sub(1)))
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The human-readable report.
pub fn to_text(reports: &[WorkloadReport]) -> String {
    let mut out = String::new();
    for r in reports {
        let _ = writeln!(
            out,
            "workload {}: {}, {} connections ({} connected) on CPUs {:?}, warm-up {:.1} s, measured {:.1} s",
            r.workload, r.mode, r.connections, r.connected, r.cpus, r.warmup_s, r.duration_s
        );
        let _ = writeln!(
            out,
            "  {:<16} {:>10} {:>11} {:>9} {:>9} {:>9} {:>9} {:>9}  errors",
            "op", "ok", "req/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
        );
        for o in &r.ops {
            let errors = if o.errors.is_empty() {
                "-".to_string()
            } else {
                o.errors
                    .iter()
                    .map(|(k, v)| format!("{k}:{v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let _ = writeln!(
                out,
                "  {:<16} {:>10} {:>11.1} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}  {errors}",
                o.op,
                o.count,
                o.throughput_per_s,
                ms(o.p50_us),
                ms(o.p90_us),
                ms(o.p99_us),
                ms(o.p999_us),
                ms(o.max_us)
            );
        }
        let _ = writeln!(
            out,
            "  total            {:>10} {:>11.1}",
            r.total_count(),
            r.total_count() as f64 / r.duration_s.max(1e-9)
        );
        let (lo, mid, hi) = r.connection_spread();
        let _ = writeln!(
            out,
            "  per-connection req/s: min {lo:.1}  median {mid:.1}  max {hi:.1}"
        );
        if let Some([p50, p99, max]) = r.send_lag_us {
            let _ = writeln!(
                out,
                "  generator send lag after the schedule: p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
                ms(p50),
                ms(p99),
                ms(max)
            );
        }
        match &r.server_connections_per_core {
            Some(cores) => {
                let list: Vec<String> = cores
                    .iter()
                    .enumerate()
                    .map(|(i, n)| format!("core {i}: {n}"))
                    .collect();
                let _ = writeln!(out, "  server connections per core: {}", list.join(", "));
            }
            None => {
                let _ = writeln!(
                    out,
                    "  server connections per core: unknown (give --admin ADDR)"
                );
            }
        }
        if !r.other_errors.is_empty() {
            let list: Vec<String> = r
                .other_errors
                .iter()
                .map(|(k, v)| format!("{k}:{v}"))
                .collect();
            let _ = writeln!(out, "  connection-level errors: {}", list.join(" "));
        }
    }
    out
}

fn json_f64(out: &mut String, x: f64) {
    if x.is_finite() {
        let _ = write!(out, "{x}");
    } else {
        out.push_str("null");
    }
}

fn json_counts(out: &mut String, m: &BTreeMap<String, u64>) {
    out.push('{');
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, k);
        let _ = write!(out, ":{v}");
    }
    out.push('}');
}

/// The JSON report: `{"generator": ..., "workloads": [...]}`, latencies in microseconds.
pub fn to_json(reports: &[WorkloadReport]) -> String {
    let mut out = String::from("{\"generator\":\"coregraph-perf gremlin\",\"workloads\":[");
    for (wi, r) in reports.iter().enumerate() {
        if wi > 0 {
            out.push(',');
        }
        out.push_str("{\"workload\":");
        write_string(&mut out, &r.workload);
        out.push_str(",\"mode\":");
        write_string(&mut out, &r.mode);
        let _ = write!(
            out,
            ",\"connections\":{},\"connected\":{},\"cpus\":{:?},\"warmup_s\":",
            r.connections, r.connected, r.cpus
        );
        json_f64(&mut out, r.warmup_s);
        out.push_str(",\"duration_s\":");
        json_f64(&mut out, r.duration_s);
        let _ = write!(out, ",\"total_count\":{},\"ops\":[", r.total_count());
        for (oi, o) in r.ops.iter().enumerate() {
            if oi > 0 {
                out.push(',');
            }
            out.push_str("{\"op\":");
            write_string(&mut out, &o.op);
            out.push_str(",\"text\":");
            write_string(&mut out, &o.text);
            let _ = write!(out, ",\"count\":{},\"throughput_per_s\":", o.count);
            json_f64(&mut out, o.throughput_per_s);
            let _ = write!(
                out,
                ",\"latency_us\":{{\"p50\":{},\"p90\":{},\"p99\":{},\"p99_9\":{},\"max\":{},\"mean\":",
                o.p50_us, o.p90_us, o.p99_us, o.p999_us, o.max_us
            );
            json_f64(&mut out, o.mean_us);
            out.push_str("},\"errors\":");
            json_counts(&mut out, &o.errors);
            out.push_str(",\"percentile_curve\":[");
            for (i, (p, v)) in o.curve.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('[');
                json_f64(&mut out, *p);
                let _ = write!(out, ",{v}]");
            }
            out.push_str("]}");
        }
        let (lo, mid, hi) = r.connection_spread();
        out.push_str("],\"per_connection_rps\":{\"min\":");
        json_f64(&mut out, lo);
        out.push_str(",\"median\":");
        json_f64(&mut out, mid);
        out.push_str(",\"max\":");
        json_f64(&mut out, hi);
        out.push_str(",\"all\":[");
        for (i, x) in r.per_connection_rps.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_f64(&mut out, *x);
        }
        out.push_str("]},\"send_lag_us\":");
        match r.send_lag_us {
            Some([p50, p99, max]) => {
                let _ = write!(out, "{{\"p50\":{p50},\"p99\":{p99},\"max\":{max}}}");
            }
            None => out.push_str("null"),
        }
        out.push_str(",\"server_connections_per_core\":");
        match &r.server_connections_per_core {
            Some(c) => {
                let _ = write!(out, "{c:?}");
            }
            None => out.push_str("null"),
        }
        out.push_str(",\"other_errors\":");
        json_counts(&mut out, &r.other_errors);
        out.push('}');
    }
    out.push_str("]}\n");
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A latency-percentile plot: x is the percentile on a "nines" scale (0, 90, 99, 99.9, ...),
/// y the latency in milliseconds; one line per workload and operation.
pub fn to_svg(reports: &[WorkloadReport]) -> String {
    const W: f64 = 900.0;
    const H: f64 = 520.0;
    const LEFT: f64 = 70.0;
    const RIGHT: f64 = 230.0;
    const TOP: f64 = 40.0;
    const BOTTOM: f64 = 50.0;
    const COLOURS: [&str; 8] = [
        "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    ];
    let series: Vec<(String, &OpReport)> = reports
        .iter()
        .flat_map(|r| {
            r.ops
                .iter()
                .map(move |o| (format!("{}/{}", r.workload, o.op), o))
        })
        .collect();
    let y_max_us = series
        .iter()
        .flat_map(|(_, o)| o.curve.iter().map(|&(_, v)| v))
        .max()
        .unwrap_or(1)
        .max(1);
    // A round upper bound: 1, 2 or 5 times a power of ten, in ms.
    let y_max_ms = {
        let raw = ms(y_max_us) * 1.05;
        let mag = 10f64.powf(raw.log10().floor());
        let m = [1.0, 2.0, 5.0, 10.0]
            .into_iter()
            .find(|m| m * mag >= raw)
            .unwrap_or(10.0);
        m * mag
    };
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let x_of = |pct: f64| {
        let nines = -(1.0 - pct / 100.0).max(1e-12).log10();
        LEFT + pw * (nines / CURVE_NINES).clamp(0.0, 1.0)
    };
    let y_of = |us: u64| TOP + ph * (1.0 - (ms(us) / y_max_ms).clamp(0.0, 1.0));
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(s, "<rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>");
    let _ = writeln!(
        s,
        "<text x=\"{LEFT}\" y=\"22\" font-size=\"15\">Latency by percentile (coregraph-perf gremlin)</text>"
    );
    for (i, label) in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        .iter()
        .enumerate()
    {
        let x = LEFT + pw * i as f64 / CURVE_NINES;
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
            TOP + ph,
            TOP + ph + 18.0
        );
    }
    for i in 0..=5 {
        let v = y_max_ms * i as f64 / 5.0;
        let y = TOP + ph * (1.0 - i as f64 / 5.0);
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT + pw,
            LEFT - 6.0,
            y + 4.0,
            trim_float(v)
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">percentile</text>",
        LEFT + pw / 2.0,
        H - 10.0
    );
    let _ = writeln!(
        s,
        "<text x=\"16\" y=\"{:.1}\" transform=\"rotate(-90 16 {:.1})\" text-anchor=\"middle\">latency (ms)</text>",
        TOP + ph / 2.0,
        TOP + ph / 2.0
    );
    let _ = writeln!(
        s,
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#333\"/>"
    );
    for (i, (name, o)) in series.iter().enumerate() {
        let colour = COLOURS.get(i % COLOURS.len()).copied().unwrap_or("#000");
        if !o.curve.is_empty() {
            let points: Vec<String> = o
                .curve
                .iter()
                .map(|&(p, v)| format!("{:.1},{:.1}", x_of(p), y_of(v)))
                .collect();
            let _ = writeln!(
                s,
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
                points.join(" ")
            );
        }
        let ly = TOP + 10.0 + 18.0 * i as f64;
        let lx = LEFT + pw + 14.0;
        let _ = writeln!(
            s,
            "<line x1=\"{lx:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{colour}\" stroke-width=\"3\"/><text x=\"{:.1}\" y=\"{:.1}\">{} (p99 {} ms)</text>",
            lx + 20.0,
            lx + 26.0,
            ly + 4.0,
            xml_escape(name),
            trim_float(ms(o.p99_us))
        );
    }
    s.push_str("</svg>\n");
    s
}

fn trim_float(v: f64) -> String {
    let t = format!("{v:.3}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    if t.is_empty() {
        "0".to_string()
    } else {
        t.to_string()
    }
}

/// `GET path` over plain HTTP/1.1; the body of a 200 answer.
pub fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let mut s = std::net::TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)
        .map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(HTTP_TIMEOUT))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("{addr}: {e}"))?;
    let mut buf = Vec::new();
    s.take(HTTP_RESPONSE_BYTES_MAX)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{addr}: {e}"))?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{addr}: no HTTP answer"))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("{addr}{path}: {status}"));
    }
    Ok(body.to_string())
}
