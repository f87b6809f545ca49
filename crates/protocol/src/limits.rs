//! The `limits` object of an `execute` or `create_session`, decoded strictly: only a JSON
//! object (serde would take `[1]` as `{wall_ms: 1}`, a struct's sequence form), only the five
//! known fields, each once, each a whole number in its range, and an error that names the field
//! and the range when one is not.

use schemars::JsonSchema;
use serde::de::{Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// Limits a request asks for. Each is capped by the key's maximum; absent ones take the server's
/// defaults; values under a language's floors (`min_memory_mb`, `min_pids`) are raised to them.
/// Unknown fields are refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "Limits", deny_unknown_fields)]
pub struct LimitsSpec {
    /// Wall-clock time of the run stage, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub wall_ms: Option<u64>,
    /// CPU time of the run stage, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub cpu_ms: Option<u64>,
    /// Memory, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub memory_mb: Option<u64>,
    /// Processes and threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = u32::MAX))]
    pub pids: Option<u32>,
    /// Bytes of stdout plus stderr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub output_bytes: Option<u64>,
}

/// The fields, in the order error messages list them.
pub const LIMIT_FIELDS: [&str; 5] = ["wall_ms", "cpu_ms", "memory_mb", "pids", "output_bytes"];

impl<'de> Deserialize<'de> for LimitsSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectOnly)
    }
}

struct ObjectOnly;

impl<'de> Visitor<'de> for ObjectOnly {
    type Value = LimitsSpec;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("an object of limits such as {\"wall_ms\": 5000}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LimitsSpec, A::Error> {
        let mut spec = LimitsSpec::default();
        let mut seen = [false; LIMIT_FIELDS.len()];
        while let Some(name) = map.next_key::<String>()? {
            let Some(index) = LIMIT_FIELDS.iter().position(|field| *field == name) else {
                return Err(A::Error::custom(format!(
                    "unknown limit `{name}` (the limits are {})",
                    LIMIT_FIELDS.join(", ")
                )));
            };
            if std::mem::replace(&mut seen[index], true) {
                return Err(A::Error::custom(format!("`limits.{name}` is given twice")));
            }
            let value: serde_json::Value = map.next_value()?;
            let label = format!("limits.{name}");
            let unit = unit_of(&name);
            match name.as_str() {
                "wall_ms" => spec.wall_ms = whole(&label, unit, &value, u64::MAX)?,
                "cpu_ms" => spec.cpu_ms = whole(&label, unit, &value, u64::MAX)?,
                "memory_mb" => spec.memory_mb = whole(&label, unit, &value, u64::MAX)?,
                "pids" => {
                    spec.pids = whole(&label, unit, &value, u64::from(u32::MAX))?
                        .map(|pids| u32::try_from(pids).unwrap_or(u32::MAX));
                }
                _ => spec.output_bytes = whole(&label, unit, &value, u64::MAX)?,
            }
        }
        Ok(spec)
    }
}

/// `create_session`'s `idle_timeout` (seconds), decoded the same way: a whole number from 1,
/// or an error that names it.
pub fn idle_timeout<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    whole("idle_timeout", " (seconds)", &value, u64::MAX)
}

/// `value` as a whole number from 1 to `max`, `None` for `null`; else an error naming `label`
/// and the range.
fn whole<E: serde::de::Error>(
    label: &str,
    unit: &str,
    value: &serde_json::Value,
    max: u64,
) -> Result<Option<u64>, E> {
    if value.is_null() {
        return Ok(None);
    }
    match value.as_u64() {
        Some(number) if (1..=max).contains(&number) => Ok(Some(number)),
        _ => Err(E::custom(format!(
            "`{label}` must be a whole number from 1 to {max}{unit}, got {value}"
        ))),
    }
}

fn unit_of(name: &str) -> &'static str {
    match name {
        "wall_ms" | "cpu_ms" => " (milliseconds)",
        "memory_mb" => " (MiB)",
        "output_bytes" => " (bytes)",
        _ => " (processes and threads)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> Result<LimitsSpec, String> {
        serde_json::from_str(text).map_err(|error| error.to_string())
    }

    #[test]
    fn an_object_of_known_fields_decodes() {
        let spec = decode(
            r#"{"wall_ms": 5, "cpu_ms": 6, "memory_mb": 7, "pids": 8, "output_bytes": 9, "pids_": null}"#,
        );
        assert!(spec.expect_err("unknown").contains("unknown limit `pids_`"));
        let spec =
            decode(r#"{"wall_ms": 5, "cpu_ms": 6, "memory_mb": 7, "pids": 8, "output_bytes": 9}"#)
                .expect("valid");
        assert_eq!(
            spec,
            LimitsSpec {
                wall_ms: Some(5),
                cpu_ms: Some(6),
                memory_mb: Some(7),
                pids: Some(8),
                output_bytes: Some(9),
            }
        );
        assert_eq!(decode(r#"{"pids": null}"#), Ok(LimitsSpec::default()));
        assert_eq!(decode("{}"), Ok(LimitsSpec::default()));
    }

    #[test]
    fn every_wrong_value_names_its_field_and_range() {
        for (text, wanted) in [
            (r#"[1]"#, "an object of limits"),
            (r#"5"#, "an object of limits"),
            (
                r#"{"wall_ms": -1}"#,
                "`limits.wall_ms` must be a whole number from 1 to",
            ),
            (
                r#"{"cpu_ms": 1.5}"#,
                "`limits.cpu_ms` must be a whole number",
            ),
            (
                r#"{"memory_mb": "64"}"#,
                "`limits.memory_mb` must be a whole number",
            ),
            (
                r#"{"pids": 4294967296}"#,
                "from 1 to 4294967295 (processes and threads), got 4294967296",
            ),
            (
                r#"{"pids": 0}"#,
                "`limits.pids` must be a whole number from 1",
            ),
            (
                r#"{"output_bytes": 1e300}"#,
                "`limits.output_bytes` must be a whole number",
            ),
            (
                r#"{"wall_ms": 18446744073709551616}"#,
                "`limits.wall_ms` must be a whole number",
            ),
            (
                r#"{"wall_ms": 1, "wall_ms": 2}"#,
                "`limits.wall_ms` is given twice",
            ),
            (
                r#"{"timeout": 1}"#,
                "unknown limit `timeout` (the limits are wall_ms, cpu_ms",
            ),
        ] {
            let error = decode(text).expect_err(text);
            assert!(error.contains(wanted), "{text}: {error}");
        }
    }

    #[test]
    fn idle_timeout_is_named_when_it_is_not_a_whole_number() {
        #[derive(Debug, Deserialize)]
        struct Request {
            #[serde(default, deserialize_with = "idle_timeout")]
            idle_timeout: Option<u64>,
        }
        let decode = |text: &str| serde_json::from_str::<Request>(text).map_err(|e| e.to_string());
        assert_eq!(
            decode(r#"{"idle_timeout": 30}"#)
                .expect("valid")
                .idle_timeout,
            Some(30)
        );
        assert_eq!(
            decode(r#"{"idle_timeout": null}"#)
                .expect("valid")
                .idle_timeout,
            None
        );
        assert_eq!(decode("{}").expect("valid").idle_timeout, None);
        for text in [
            r#"{"idle_timeout": -1}"#,
            r#"{"idle_timeout": 1.5}"#,
            r#"{"idle_timeout": 1e300}"#,
            r#"{"idle_timeout": "5"}"#,
            r#"{"idle_timeout": 0}"#,
        ] {
            let error = decode(text).expect_err(text);
            assert!(
                error.contains("`idle_timeout` must be a whole number from 1"),
                "{text}: {error}"
            );
        }
    }
}
