//! The files generated from `crates/protocol`, the one source of the wire contract:
//!
//! - `docs/protocol.schema.json`: the JSON Schema (draft 2020-12) of every message;
//! - `crates/gateway/src/openapi.json`: the OpenAPI 3.1 document, the hand-written operations of
//!   `crates/gateway/src/openapi/operations.json` with the generated schemas as its components;
//! - `clients/js/src/protocol.ts`: the wire types for the JavaScript SDK;
//! - `clients/python/src/runnel/_messages.py`: the wire types for the Python SDK.
//!
//! `cargo run -p runnel-codegen` writes them; `--check` (and this crate's test) fails when one
//! is stale.

mod model;
mod python;
mod typescript;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use serde_json::Value;

/// One generated file: where it goes (relative to the workspace root) and what it holds.
#[derive(Debug)]
pub struct Generated {
    /// The path, relative to the workspace root.
    pub path: &'static str,
    /// The whole text.
    pub text: String,
}

/// The hand-written part of the OpenAPI document: everything but `components.schemas`.
pub const OPERATIONS: &str = "crates/gateway/src/openapi/operations.json";

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Every generated file, made afresh from the protocol's types (and the operations file).
pub fn generate(root: &Path) -> Result<Vec<Generated>> {
    let schema = runnel_protocol::schema::document();
    let defs = model::read(
        schema["$defs"]
            .as_object()
            .ok_or_else(|| anyhow!("the schema has no $defs"))?,
    )?;
    Ok(vec![
        Generated {
            path: "docs/protocol.schema.json",
            text: pretty(&schema)?,
        },
        Generated {
            path: "crates/gateway/src/openapi.json",
            text: pretty(&openapi(root)?)?,
        },
        Generated {
            path: "clients/js/src/protocol.ts",
            text: typescript::render(&defs),
        },
        Generated {
            path: "clients/python/src/runnel/_messages.py",
            text: python::render(&defs),
        },
    ])
}

/// The generated files whose text on disk differs from what [`generate`] makes.
pub fn stale(root: &Path) -> Result<Vec<&'static str>> {
    Ok(generate(root)?
        .into_iter()
        .filter(|file| {
            std::fs::read_to_string(root.join(file.path))
                .ok()
                .as_deref()
                != Some(&file.text)
        })
        .map(|file| file.path)
        .collect())
}

/// The OpenAPI document: the operations file with the schemas under `components.schemas`.
fn openapi(root: &Path) -> Result<Value> {
    let path = root.join(OPERATIONS);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let mut document: Value =
        serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
    let components = document
        .get_mut("components")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| anyhow!("{OPERATIONS} has no `components` object"))?;
    if components.contains_key("schemas") {
        return Err(anyhow!(
            "{OPERATIONS} has `components.schemas`: they are generated; refer to them by $ref"
        ));
    }
    components.insert(
        "schemas".to_owned(),
        Value::Object(runnel_protocol::schema::definitions("/components/schemas")),
    );
    Ok(document)
}

fn pretty(value: &Value) -> Result<String> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}

/// The name of a union's variant: the union's name without `Message`, then the tag in
/// PascalCase (`ClientMessage` + `create_session` = `ClientCreateSession`).
pub(crate) fn variant_name(union: &str, variant: &model::Variant) -> String {
    let prefix = union.strip_suffix("Message").unwrap_or(union);
    let tag: String = variant
        .tag
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect();
    format!("{prefix}{tag}")
}
