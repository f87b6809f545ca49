//! The gateway's own counters and the Prometheus text exposition of `/metrics`.
//!
//! Run figures (totals, latency, pool, compile cache) come from the engine's [`EngineStats`];
//! connections, frames and HTTP requests are counted here. The renderer is hand-written: the
//! format is small and stable (version 0.0.4 of the text format).

use std::collections::BTreeMap;
use std::fmt::{Display, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use runnel_engine::EngineStats;
use runnel_protocol::http::HealthStatus;

/// Counters of the gateway itself. Shared through [`crate::AppState`].
#[derive(Debug, Default)]
pub struct Metrics {
    connections: Arc<AtomicU64>,
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    refused_full: AtomicU64,
    refused_address: AtomicU64,
    http_requests: Mutex<BTreeMap<(String, u16), u64>>,
}

/// An open WebSocket connection, counted until dropped.
#[derive(Debug)]
pub struct ConnectionGuard {
    connections: Arc<AtomicU64>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A copy of the gateway's counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct GatewayCounters {
    pub(crate) connections: u64,
    pub(crate) frames_in: u64,
    pub(crate) frames_out: u64,
    /// Open TCP connections (HTTP and WebSocket), from the front door.
    pub(crate) open: u64,
    /// Connections refused at the door: (server full, address over its cap).
    pub(crate) refused: (u64, u64),
    pub(crate) http_requests: BTreeMap<(String, u16), u64>,
}

impl Metrics {
    /// Count a connection as open until the guard drops.
    pub fn connection_opened(&self) -> ConnectionGuard {
        self.connections.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard {
            connections: Arc::clone(&self.connections),
        }
    }

    /// Open WebSocket connections.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Count a frame received from a client.
    pub(crate) fn frame_in(&self) {
        self.frames_in.fetch_add(1, Ordering::Relaxed);
    }

    /// Count frames sent to a client.
    pub(crate) fn frames_out(&self, count: u64) {
        self.frames_out.fetch_add(count, Ordering::Relaxed);
    }

    /// Count a connection the front door turned away.
    pub(crate) fn connection_refused(&self, refused: crate::door::Refused) {
        let counter = match refused {
            crate::door::Refused::Full => &self.refused_full,
            crate::door::Refused::Address => &self.refused_address,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Count an HTTP request by matched route and status.
    pub(crate) fn http_request(&self, route: &str, status: u16) {
        let mut requests = self
            .http_requests
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        *requests.entry((route.to_owned(), status)).or_insert(0) += 1;
    }

    pub(crate) fn snapshot(&self, open: usize) -> GatewayCounters {
        GatewayCounters {
            open: u64::try_from(open).unwrap_or(u64::MAX),
            connections: self.connections(),
            frames_in: self.frames_in.load(Ordering::Relaxed),
            frames_out: self.frames_out.load(Ordering::Relaxed),
            refused: (
                self.refused_full.load(Ordering::Relaxed),
                self.refused_address.load(Ordering::Relaxed),
            ),
            http_requests: self
                .http_requests
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .clone(),
        }
    }
}

/// Render every metric in the Prometheus text format.
pub(crate) fn render(
    stats: &EngineStats,
    gateway: &GatewayCounters,
    history: &runnel_store::HistoryHealth,
) -> String {
    let mut out = Exposition::default();
    out.family(
        "runnel_uptime_seconds",
        "Seconds since the engine started.",
        "gauge",
    );
    out.sample("runnel_uptime_seconds", &[], stats.uptime.as_secs_f64());

    out.family(
        "runnel_runs_total",
        "Finished runs by language and status.",
        "counter",
    );
    for ((language, status), count) in &stats.by_language_status {
        let labels = [("language", language.as_str()), ("status", status.as_str())];
        out.sample("runnel_runs_total", &labels, count);
    }

    let name = "runnel_run_duration_seconds";
    out.family(
        name,
        "Request-to-exit latency of finished runs.",
        "histogram",
    );
    for (language, histogram) in &stats.latency {
        for (bound, count) in &histogram.buckets {
            let bound = float(*bound);
            let labels = [("language", language.as_str()), ("le", bound.as_str())];
            out.sample(&format!("{name}_bucket"), &labels, count);
        }
        let labels = [("language", language.as_str()), ("le", "+Inf")];
        out.sample(&format!("{name}_bucket"), &labels, histogram.count);
        let labels = [("language", language.as_str())];
        out.sample(&format!("{name}_sum"), &labels, float(histogram.sum));
        out.sample(&format!("{name}_count"), &labels, histogram.count);
    }

    out.family("runnel_runs_in_flight", "Runs in flight.", "gauge");
    out.sample("runnel_runs_in_flight", &[], stats.running);

    let name = "runnel_memory_committed_bytes";
    out.family(
        name,
        "Memory limits of the sandboxes of runs and sessions held now.",
        "gauge",
    );
    out.sample(name, &[], stats.memory_committed);
    let name = "runnel_memory_budget_bytes";
    out.family(
        name,
        "The budget those limits must fit in (the warm pools set aside).",
        "gauge",
    );
    out.sample(name, &[], stats.memory_budget);
    let name = "runnel_runs_waiting_for_memory";
    out.family(name, "Runs waiting for room in the memory budget.", "gauge");
    out.sample(name, &[], stats.waiting_for_memory);

    out.family("runnel_connections", "Open WebSocket connections.", "gauge");
    out.sample("runnel_connections", &[], gateway.connections);

    let name = "runnel_tcp_connections";
    out.family(
        name,
        "Open TCP connections (HTTP and WebSocket) held at the front door.",
        "gauge",
    );
    out.sample(name, &[], gateway.open);

    let name = "runnel_connections_refused_total";
    out.family(
        name,
        "Connections closed at accept: the server at its connection cap, or an address at its \
         cap of unauthenticated connections.",
        "counter",
    );
    out.sample(name, &[("reason", "server_full")], gateway.refused.0);
    out.sample(name, &[("reason", "address")], gateway.refused.1);

    let name = "runnel_ws_frames_total";
    out.family(name, "WebSocket data frames by direction.", "counter");
    out.sample(name, &[("direction", "in")], gateway.frames_in);
    out.sample(name, &[("direction", "out")], gateway.frames_out);

    out.family(
        "runnel_pool_ready",
        "Ready sandboxes in the warm pool.",
        "gauge",
    );
    for (language, ready) in &stats.pool_ready {
        out.sample(
            "runnel_pool_ready",
            &[("language", language.as_str())],
            ready,
        );
    }

    let name = "runnel_pool_taken_total";
    out.family(
        name,
        "Runs started in a sandbox from the warm pool.",
        "counter",
    );
    for (language, taken) in &stats.pool_taken {
        out.sample(name, &[("language", language.as_str())], taken);
    }

    let name = "runnel_compile_cache_hits_total";
    out.family(name, "Compile cache hits.", "counter");
    out.sample(name, &[], stats.cache_hits);
    let name = "runnel_compile_cache_misses_total";
    out.family(name, "Compile cache misses.", "counter");
    out.sample(name, &[], stats.cache_misses);

    let name = "runnel_health";
    out.family(
        name,
        "The state /healthz reports: 1 for the current one of ready, degraded, down.",
        "gauge",
    );
    for state in [
        HealthStatus::Ready,
        HealthStatus::Degraded,
        HealthStatus::Down,
    ] {
        let value = u64::from(stats.health == state);
        out.sample(name, &[("state", state.as_str())], value);
    }
    let name = "runnel_spawner_restarts_total";
    out.family(
        name,
        "Times the sandbox spawner died and a new one was started.",
        "counter",
    );
    out.sample(name, &[], stats.spawner_restarts);
    let name = "runnel_pool_refill_failures_total";
    out.family(
        name,
        "Failed refills of the warm pools, by pool (runs, sessions) and language.",
        "counter",
    );
    for (pool, failures) in [
        ("runs", &stats.pool_refill_failures),
        ("sessions", &stats.session_pool_refill_failures),
    ] {
        for (language, count) in failures {
            out.sample(
                name,
                &[("pool", pool), ("language", language.as_str())],
                count,
            );
        }
    }

    let name = "runnel_compile_cache_write_errors_total";
    out.family(
        name,
        "Failed compile cache writes (a full disk, say).",
        "counter",
    );
    out.sample(name, &[], stats.cache_write_errors);
    let name = "runnel_history_unwritten";
    out.family(
        name,
        "Finished runs waiting in memory to be written to the run history (writes fail).",
        "gauge",
    );
    out.sample(name, &[], history.unwritten);
    let name = "runnel_history_dropped_total";
    out.family(
        name,
        "Finished runs never written to the run history (a queue or the unwritten bound was full).",
        "counter",
    );
    out.sample(name, &[], history.dropped);
    let name = "runnel_history_write_errors_total";
    out.family(name, "Failed writes of the run history.", "counter");
    out.sample(name, &[], history.write_errors);
    let name = "runnel_history_pruned_total";
    out.family(
        name,
        "Runs deleted from the history by retention.",
        "counter",
    );
    out.sample(name, &[], history.pruned);

    let name = "runnel_http_requests_total";
    out.family(
        name,
        "HTTP requests by matched route and status.",
        "counter",
    );
    for ((route, status), count) in &gateway.http_requests {
        let status = status.to_string();
        let labels = [("route", route.as_str()), ("status", status.as_str())];
        out.sample(name, &labels, count);
    }
    out.text
}

#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, help: &str, kind: &str) {
        // Writing to a String cannot fail.
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (index, (label, value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }
}

/// A float as Prometheus writes it (`+Inf`, `-Inf`, `NaN`).
fn float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        value.to_string()
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for character in value.chars() {
        match character {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use runnel_engine::Histogram;
    use runnel_protocol::RunStatus;

    use super::*;

    fn stats() -> EngineStats {
        let mut histogram = Histogram::default();
        histogram.observe(Duration::from_millis(3));
        EngineStats {
            uptime: Duration::from_secs(5),
            executions: 1,
            running: 2,
            by_language_status: BTreeMap::from([(("python".to_owned(), RunStatus::Ok), 1)]),
            latency: BTreeMap::from([("python".to_owned(), histogram)]),
            pool_ready: BTreeMap::from([("python".to_owned(), 4)]),
            pool_taken: BTreeMap::from([("python".to_owned(), 9)]),
            cache_hits: 7,
            cache_misses: 3,
            memory_committed: 512 << 20,
            memory_budget: 4 << 30,
            waiting_for_memory: 1,
            spawner_restarts: 2,
            pool_refill_failures: BTreeMap::from([("python".to_owned(), 5)]),
            session_pool_refill_failures: BTreeMap::new(),
            health: HealthStatus::Degraded,
            cache_write_errors: 4,
        }
    }

    fn history() -> runnel_store::HistoryHealth {
        runnel_store::HistoryHealth {
            unwritten: 12,
            dropped: 1,
            write_errors: 3,
            failing: Some("full".to_owned()),
            disk_full: true,
            pruned: 0,
        }
    }

    #[test]
    fn renders_every_family_with_help_and_type() {
        let metrics = Metrics::default();
        let guard = metrics.connection_opened();
        metrics.frame_in();
        metrics.frames_out(2);
        metrics.http_request("/api/v1/execute", 200);
        let text = render(&stats(), &metrics.snapshot(1), &history());
        drop(guard);
        for line in [
            "# HELP runnel_runs_total Finished runs by language and status.",
            "# TYPE runnel_runs_total counter",
            "runnel_runs_total{language=\"python\",status=\"ok\"} 1",
            "# TYPE runnel_run_duration_seconds histogram",
            "runnel_run_duration_seconds_bucket{language=\"python\",le=\"0.0025\"} 0",
            "runnel_run_duration_seconds_bucket{language=\"python\",le=\"0.005\"} 1",
            "runnel_run_duration_seconds_bucket{language=\"python\",le=\"+Inf\"} 1",
            "runnel_run_duration_seconds_sum{language=\"python\"} 0.003",
            "runnel_run_duration_seconds_count{language=\"python\"} 1",
            "runnel_runs_in_flight 2",
            "runnel_connections 1",
            "runnel_ws_frames_total{direction=\"in\"} 1",
            "runnel_ws_frames_total{direction=\"out\"} 2",
            "runnel_pool_ready{language=\"python\"} 4",
            "runnel_pool_taken_total{language=\"python\"} 9",
            "runnel_compile_cache_hits_total 7",
            "runnel_compile_cache_misses_total 3",
            "runnel_health{state=\"ready\"} 0",
            "runnel_health{state=\"degraded\"} 1",
            "runnel_spawner_restarts_total 2",
            "runnel_compile_cache_write_errors_total 4",
            "runnel_history_unwritten 12",
            "runnel_history_write_errors_total 3",
            "runnel_pool_refill_failures_total{pool=\"runs\",language=\"python\"} 5",
            "runnel_http_requests_total{route=\"/api/v1/execute\",status=\"200\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing line {line:?} in\n{text}"
            );
        }
        assert_eq!(metrics.connections(), 0);
    }

    #[test]
    fn every_sample_line_is_well_formed() {
        let text = render(&stats(), &GatewayCounters::default(), &history());
        assert!(text.ends_with('\n'));
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').expect("name and value");
            assert!(!series.is_empty());
            assert!(value.parse::<f64>().is_ok() || value == "+Inf", "{line}");
            let name = series.split('{').next().expect("name");
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{line}"
            );
            assert!(
                text.contains(&format!("# TYPE {}", family_of(name))),
                "{line}"
            );
        }
    }

    fn family_of(name: &str) -> &str {
        ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|base| base.ends_with("_seconds"))
            .unwrap_or(name)
    }

    #[test]
    fn label_values_and_floats_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(0.25), "0.25");
        assert_eq!(float(1.0), "1");
    }
}
