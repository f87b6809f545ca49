//! The web console: the files of `web/dist` (built by `web/build.mjs` and committed, so that a
//! fresh clone builds the binary without Node), embedded in the binary and served at `/` and
//! `/assets/*`.
//!
//! `index.html` is revalidated on every load (`no-cache` with an `ETag`); it names each asset
//! with a hash of its content (`/assets/console.js?v=HASH`), so the assets themselves may be
//! cached for a year. The script and the stylesheet are also embedded gzipped (by the build)
//! and sent that way to clients that accept gzip.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// One embedded file of the console.
struct Asset {
    /// Path under `/assets/`.
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    /// The same bytes gzipped by the build, for clients that accept gzip.
    gzip: Option<&'static [u8]>,
}

const INDEX_HTML: &[u8] = include_bytes!("../../../web/dist/index.html");

const ASSETS: &[Asset] = &[
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../../web/dist/assets/console.js"),
        gzip: Some(include_bytes!("../../../web/dist/assets/console.js.gz")),
    },
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../../web/dist/assets/console.css"),
        gzip: Some(include_bytes!("../../../web/dist/assets/console.css.gz")),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../../web/dist/assets/favicon.svg"),
        gzip: None,
    },
];

/// What the console page may load: its own scripts, styles (CodeMirror and xterm.js add inline
/// ones) and WebSockets; nothing from elsewhere, and no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; \
     connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const INDEX_CACHE: &str = "no-cache";
const ASSET_CACHE: &str = "public, max-age=31536000, immutable";

/// Entity tags, one per embedded file, computed on first use.
static INDEX_ETAG: LazyLock<String> = LazyLock::new(|| etag(INDEX_HTML));
static ASSET_ETAGS: LazyLock<Vec<String>> =
    LazyLock::new(|| ASSETS.iter().map(|asset| etag(asset.bytes)).collect());

/// A strong entity tag: FNV-1a (64 bits) of the bytes and their length.
fn etag(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{hash:016x}-{:x}\"", bytes.len())
}

/// Whether the client already holds the version tagged `tag` (`If-None-Match`).
fn fresh(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|candidate| candidate.trim().trim_start_matches("W/"))
        .any(|candidate| candidate == tag || candidate == "*")
}

/// Whether `Accept-Encoding` takes gzip (`gzip` or `*`, with a quality above zero).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let refused = parts.any(|param| {
                param
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

fn respond(
    headers: &HeaderMap,
    bytes: &'static [u8],
    gzip: Option<&'static [u8]>,
    content_type: &'static str,
    tag: &str,
    cache: &'static str,
) -> Response {
    let gzip = gzip.filter(|_| accepts_gzip(headers));
    let mut response = if fresh(headers, tag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = gzip.unwrap_or(bytes).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if gzip.is_some() {
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        response
    };
    let out = response.headers_mut();
    out.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(value) = HeaderValue::from_str(tag) {
        out.insert(header::ETAG, value);
    }
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `GET /`: the console page.
pub(crate) async fn index(headers: HeaderMap) -> Response {
    let mut response = respond(
        &headers,
        INDEX_HTML,
        None,
        "text/html; charset=utf-8",
        &INDEX_ETAG,
        INDEX_CACHE,
    );
    let out = response.headers_mut();
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    out.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `GET /assets/{*path}`: the console's scripts, styles and icon.
pub(crate) async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().position(|asset| asset.name == path) {
        Some(index) => {
            let asset = &ASSETS[index];
            respond(
                &headers,
                asset.bytes,
                asset.gzip,
                asset.content_type,
                &ASSET_ETAGS[index],
                ASSET_CACHE,
            )
        }
        None => crate::ApiError::new(
            runnel_protocol::ErrorCode::NotFound,
            format!("no console asset `{path}`"),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_differ_by_content_and_are_quoted() {
        let a = etag(b"console");
        assert_ne!(a, etag(b"consolf"));
        assert!(a.starts_with('"') && a.ends_with('"'), "{a}");
    }

    #[test]
    fn if_none_match_lists_and_weak_tags_count() {
        let tag = etag(b"x");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"other\", W/{tag}")).expect("header"),
        );
        assert!(fresh(&headers, &tag));
        assert!(!fresh(&HeaderMap::new(), &tag));
    }

    #[test]
    fn gzip_is_taken_unless_refused() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_str(value).expect("header"),
            );
            accepts_gzip(&headers)
        };
        assert!(with("gzip, deflate, br"));
        assert!(with("br;q=1.0, GZIP;q=0.5"));
        assert!(with("*"));
        assert!(!with("br"));
        assert!(!with("gzip;q=0"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn the_page_names_every_asset_it_loads() {
        let html = std::str::from_utf8(INDEX_HTML).expect("utf-8");
        for asset in ASSETS {
            assert!(
                html.contains(&format!("/assets/{}", asset.name)),
                "index.html does not load {}",
                asset.name
            );
        }
    }
}
