//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the HTTP API. `runnel-codegen`
//! writes it from `openapi/operations.json` (the routes, written by hand) and the schemas of
//! `runnel-protocol` (generated); a test here checks that it names every route.

use axum::http::header;
use axum::response::IntoResponse;

/// The document, as served.
pub(crate) const DOCUMENT: &str = include_str!("openapi.json");

/// Serve the document.
pub(crate) async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_parses_and_names_every_route() {
        let document: serde_json::Value = serde_json::from_str(DOCUMENT).expect("valid JSON");
        assert_eq!(document["openapi"], "3.1.0");
        for path in [
            "/ws",
            "/api/v1/execute",
            "/api/v1/languages",
            "/api/v1/stats",
            "/api/v1/openapi.json",
            "/healthz",
            "/metrics",
            "/",
            "/api/v1/sessions",
            "/api/v1/sessions/{id}",
            "/api/v1/sessions/{id}/execute",
            "/api/v1/sessions/{id}/interrupt",
            "/api/v1/sessions/{id}/restart",
            "/api/v1/sessions/{id}/files",
            "/api/v1/sessions/{id}/files/{path}",
            "/stream/session/{id}/execute",
            "/stream/session/{id}/pty",
        ] {
            assert!(document["paths"][path].is_object(), "missing path {path}");
        }
        // Every $ref points at a schema that exists.
        let schemas = &document["components"]["schemas"];
        for reference in DOCUMENT.split("\"$ref\": \"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().expect("quoted name");
            assert!(schemas[name].is_object(), "dangling $ref {name}");
        }
    }
}
