//! The web console served by `runnel serve`: `/` is the console page, `/assets/*` its script,
//! stylesheet and icon, with the right content types and caching headers.
#![allow(clippy::disallowed_methods, missing_docs)]

mod common;

use common::Server;
use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
};
use reqwest::StatusCode;

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    response
        .headers()
        .get(&name)
        .unwrap_or_else(|| panic!("response lacks {name}: {:?}", response.headers()))
        .to_str()
        .expect("ascii header")
        .to_owned()
}

/// The asset URLs (`/assets/...`, query included) that the page loads.
fn asset_urls(html: &str) -> Vec<String> {
    html.split(['"', '\''])
        .filter(|part| part.starts_with("/assets/"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn root_serves_the_console_and_its_assets() {
    let server = Server::start(&[]);
    let http = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client");

    let page = http.get(server.http_url("/")).send().await.expect("GET /");
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(header(&page, CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(header(&page, CACHE_CONTROL), "no-cache");
    let etag = header(&page, ETAG);
    assert!(
        page.headers().contains_key("content-security-policy"),
        "the console page has no Content-Security-Policy"
    );
    let html = page.text().await.expect("page body");
    assert!(html.contains("<title>Runnel console</title>"), "{html}");
    assert!(
        html.contains("id=\"editor\""),
        "no editor in the page: {html}"
    );

    // Revalidation: the same page answers 304 to its ETag.
    let again = http
        .get(server.http_url("/"))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .expect("GET / again");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let urls = asset_urls(&html);
    let expected = [
        ("/assets/console.js", "text/javascript; charset=utf-8"),
        ("/assets/console.css", "text/css; charset=utf-8"),
        ("/assets/favicon.svg", "image/svg+xml"),
    ];
    for (path, content_type) in expected {
        let url = urls
            .iter()
            .find(|url| url.split('?').next() == Some(path))
            .unwrap_or_else(|| panic!("the page does not load {path}: {urls:?}"));
        let response = http
            .get(server.http_url(url))
            .send()
            .await
            .expect("GET asset");
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        assert_eq!(header(&response, CONTENT_TYPE), content_type, "{url}");
        assert_eq!(
            header(&response, CACHE_CONTROL),
            "public, max-age=31536000, immutable",
            "{url}"
        );
        assert!(
            response.headers().get(CONTENT_ENCODING).is_none(),
            "{url} is encoded for a client that accepts no encoding"
        );
        let body = response.bytes().await.expect("asset body");
        assert!(body.len() > 100, "{url} is only {} bytes", body.len());
        if path.ends_with(".js") {
            assert!(
                body.len() > 100_000,
                "console.js is only {} bytes: not the bundle",
                body.len()
            );
        }
    }

    // A browser taking gzip gets the script gzipped (the twin the build made).
    let plain = http
        .get(server.http_url("/assets/console.js"))
        .send()
        .await
        .expect("GET console.js")
        .bytes()
        .await
        .expect("body");
    let zipped = http
        .get(server.http_url("/assets/console.js"))
        .header(ACCEPT_ENCODING, "gzip, deflate, br")
        .send()
        .await
        .expect("GET console.js gzipped");
    assert_eq!(header(&zipped, CONTENT_ENCODING), "gzip");
    assert_eq!(
        header(&zipped, CONTENT_TYPE),
        "text/javascript; charset=utf-8"
    );
    let zipped = zipped.bytes().await.expect("gzipped body");
    assert_eq!(&zipped[..2], &[0x1f, 0x8b], "not gzip data");
    assert!(zipped.len() < plain.len() / 2, "gzip does not shrink it");

    let missing = http
        .get(server.http_url("/assets/nope.js"))
        .send()
        .await
        .expect("GET missing asset");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}
