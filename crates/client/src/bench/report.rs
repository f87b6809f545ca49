//! [`BenchReport`]: what `runnel bench` found, as a table for people and JSON for machines.

use std::fmt;

use serde_json::{json, Value};

use crate::bench::stats::LatencyStats;

/// The results of one `runnel bench`.
#[derive(Clone, Debug, Default)]
pub struct BenchReport {
    /// The server's URL.
    pub url: String,
    /// The language benchmarked.
    pub language: String,
    /// CPU model, core count and kernel of this machine.
    pub machine: String,
    /// The settings used (`n=200 warmup=20 ...`), to make figures reproducible.
    pub settings: String,
    /// One row per measured metric.
    pub rows: Vec<BenchRow>,
    /// Ratios between metrics measured in the same run (interleaved, so they share the noise).
    pub ratios: Vec<BenchRatio>,
    /// Scenarios that could not run at all, with why.
    pub failures: Vec<String>,
}

/// One measured metric.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchRow {
    /// The scenario (`oneshot`, ...).
    pub scenario: String,
    /// What was timed (`print("hi") until result`, ...).
    pub metric: String,
    /// Latency percentiles; `None` when every attempt failed.
    pub stats: Option<LatencyStats>,
    /// Completed runs per second, where that means something.
    pub runs_per_sec: Option<f64>,
    /// Failed attempts (errors, or runs whose status was not `ok`).
    pub errors: u64,
}

/// A ratio of two metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchRatio {
    /// What is divided by what.
    pub name: String,
    /// The ratio.
    pub value: f64,
}

impl BenchReport {
    /// The report as JSON (latencies in ms).
    pub fn to_json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let mut object = json!({
                    "scenario": row.scenario,
                    "metric": row.metric,
                    "errors": row.errors,
                    "runs_per_sec": row.runs_per_sec,
                });
                if let Some(stats) = row.stats {
                    object["n"] = json!(stats.n);
                    object["min_ms"] = json!(stats.min_ms);
                    object["p50_ms"] = json!(stats.p50_ms);
                    object["p95_ms"] = json!(stats.p95_ms);
                    object["p99_ms"] = json!(stats.p99_ms);
                    object["max_ms"] = json!(stats.max_ms);
                    object["mean_ms"] = json!(stats.mean_ms);
                }
                object
            })
            .collect();
        let ratios: Vec<Value> = self
            .ratios
            .iter()
            .map(|ratio| json!({"name": ratio.name, "value": ratio.value}))
            .collect();
        json!({
            "url": self.url,
            "language": self.language,
            "machine": self.machine,
            "settings": self.settings,
            "results": rows,
            "ratios": ratios,
            "failures": self.failures,
        })
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            formatter,
            "runnel bench  {}  language={}",
            self.url, self.language
        )?;
        writeln!(formatter, "machine: {}", self.machine)?;
        writeln!(formatter, "settings: {}", self.settings)?;
        writeln!(formatter)?;
        let metric_width = self
            .rows
            .iter()
            .map(|row| row.scenario.len() + row.metric.len() + 1)
            .max()
            .unwrap_or(6)
            .max(6);
        writeln!(
            formatter,
            "{:<metric_width$} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6}",
            "metric", "n", "p50 ms", "p95 ms", "p99 ms", "min ms", "max ms", "runs/s", "errors"
        )?;
        for row in &self.rows {
            let name = format!("{} {}", row.scenario, row.metric);
            let runs_per_sec = row
                .runs_per_sec
                .map(|rate| format!("{rate:.1}"))
                .unwrap_or_else(|| "-".to_owned());
            match row.stats {
                Some(stats) => writeln!(
                    formatter,
                    "{name:<metric_width$} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {runs_per_sec:>9} {:>6}",
                    stats.n,
                    format_ms(stats.p50_ms),
                    format_ms(stats.p95_ms),
                    format_ms(stats.p99_ms),
                    format_ms(stats.min_ms),
                    format_ms(stats.max_ms),
                    row.errors
                )?,
                None => writeln!(
                    formatter,
                    "{name:<metric_width$} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {runs_per_sec:>9} {:>6}",
                    0, "-", "-", "-", "-", "-", row.errors
                )?,
            }
        }
        if !self.ratios.is_empty() {
            writeln!(formatter)?;
            for ratio in &self.ratios {
                writeln!(formatter, "{}: {:.2}", ratio.name, ratio.value)?;
            }
        }
        if !self.failures.is_empty() {
            writeln!(formatter)?;
            for failure in &self.failures {
                writeln!(formatter, "failed: {failure}")?;
            }
        }
        Ok(())
    }
}

/// Milliseconds with enough digits for both 0.012 ms and 1234 ms.
fn format_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.3}")
    } else if ms < 100.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> BenchReport {
        BenchReport {
            url: "ws://127.0.0.1:8080/ws".to_owned(),
            language: "python".to_owned(),
            machine: "test cpu x2".to_owned(),
            settings: "n=3".to_owned(),
            rows: vec![
                BenchRow {
                    scenario: "ping".to_owned(),
                    metric: "round trip".to_owned(),
                    stats: Some(LatencyStats {
                        n: 3,
                        min_ms: 0.01,
                        p50_ms: 0.02,
                        p95_ms: 0.03,
                        p99_ms: 0.03,
                        max_ms: 0.03,
                        mean_ms: 0.02,
                    }),
                    runs_per_sec: None,
                    errors: 0,
                },
                BenchRow {
                    scenario: "throughput".to_owned(),
                    metric: "until result".to_owned(),
                    stats: None,
                    runs_per_sec: Some(512.5),
                    errors: 4,
                },
            ],
            ratios: vec![BenchRatio {
                name: "oneshot p50 / bare p50".to_owned(),
                value: 1.1,
            }],
            failures: vec!["stdin-echo: boom".to_owned()],
        }
    }

    #[test]
    fn table_shows_every_row_ratio_and_failure() {
        let text = report().to_string();
        assert!(text.contains("ping round trip"), "{text}");
        assert!(text.contains("0.020"), "{text}");
        assert!(text.contains("512.5"), "{text}");
        assert!(text.contains("oneshot p50 / bare p50: 1.10"), "{text}");
        assert!(text.contains("failed: stdin-echo: boom"), "{text}");
    }

    #[test]
    fn json_has_percentiles_and_rates() {
        let value = report().to_json();
        assert_eq!(value["results"][0]["p50_ms"], json!(0.02));
        assert_eq!(value["results"][1]["runs_per_sec"], json!(512.5));
        assert_eq!(value["results"][1]["errors"], json!(4));
        assert_eq!(value["ratios"][0]["value"], json!(1.1));
        assert_eq!(value["language"], json!("python"));
    }

    #[test]
    fn milliseconds_are_readable() {
        assert_eq!(format_ms(0.0123), "0.012");
        assert_eq!(format_ms(8.456), "8.46");
        assert_eq!(format_ms(1234.4), "1234");
    }
}
