//! The JSON Schema (draft 2020-12) of every message, generated from this crate's types.
//!
//! Nothing here is written by hand: the schemas come from the types' serde attributes and doc
//! comments through `schemars`. `runnel-codegen` writes them to `docs/protocol.schema.json`,
//! into the components of the gateway's OpenAPI document, and on to the SDKs' wire types.

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

use crate::client::{ClientMessage, CreateSessionRequest, ExecuteRequest};
use crate::http::{HealthResponse, HttpError, LanguageInfo, StatsResponse};
use crate::server::ServerMessage;
use crate::session::SessionList;
use crate::session::{FileList, FilesUpload, PtyClientMessage, PtyServerMessage, SessionInfo};

/// The `$id` of the schema document.
pub const SCHEMA_ID: &str = "https://runnel.dev/schema/protocol-v1.json";

/// The definitions of every wire type, each under its schema name, with `$ref`s that point
/// under `definitions_path` (`/$defs` in the schema document, `/components/schemas` in OpenAPI).
pub fn definitions(definitions_path: &str) -> Map<String, Value> {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = definitions_path.to_owned().into();
    let mut generator = settings.into_generator();
    // The roots: every other type is reached from one of them.
    let roots = [
        generator.subschema_for::<ClientMessage>(),
        generator.subschema_for::<ServerMessage>(),
        generator.subschema_for::<PtyClientMessage>(),
        generator.subschema_for::<PtyServerMessage>(),
        generator.subschema_for::<ExecuteRequest>(),
        generator.subschema_for::<CreateSessionRequest>(),
        generator.subschema_for::<LanguageInfo>(),
        generator.subschema_for::<StatsResponse>(),
        generator.subschema_for::<HealthResponse>(),
        generator.subschema_for::<HttpError>(),
        generator.subschema_for::<SessionInfo>(),
        generator.subschema_for::<SessionList>(),
        generator.subschema_for::<FilesUpload>(),
        generator.subschema_for::<FileList>(),
    ];
    drop(roots);
    generator.take_definitions(true)
}

/// The schema document: every definition under `$defs`; the document itself accepts any
/// message of the four frame kinds (client and server frames of `/ws`, and of the terminal).
pub fn document() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Runnel protocol v1",
        "description": "Generated from crates/protocol by `cargo run -p runnel-codegen`; do not edit. The prose is docs/protocol.md.",
        "anyOf": [
            { "$ref": "#/$defs/ClientMessage" },
            { "$ref": "#/$defs/ServerMessage" },
            { "$ref": "#/$defs/PtyClientMessage" },
            { "$ref": "#/$defs/PtyServerMessage" },
        ],
        "$defs": definitions("/$defs"),
    })
}

/// The schema of one type on its own, for tests.
pub fn schema_of<T: JsonSchema>() -> Value {
    SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}
