//! The web front end (`web/`, built by Vite into `web/dist`), served by the
//! binary itself so a city needs nothing but `chengyun serve`.
//!
//! Pages: `/` the workbench (login + shell), `/screen` the big screen,
//! `/report` the phone report page; `/assets/*` the hashed bundles.
//!
//! Assets come from [`rust_embed`]: release builds embed `web/dist` into the
//! binary; debug builds (without rust-embed's `debug-embed` feature, on purpose)
//! read the files from `web/dist` on disk at each request, so a front-end
//! rebuild shows up without recompiling Rust — the e2e tests rely on that.
//! `allow_missing` lets `cargo build` work before the front end was built; then
//! the pages answer how to build it. `build.rs` makes release builds re-embed
//! when `web/dist` changes.
//!
//! `CHENGYUN_WEB_DIR`, when set, names a built `dist` folder to serve from disk
//! instead, for every build: the test scripts point it at the checkout's own
//! `web/dist`, so a debug binary built in another checkout (sharing a target
//! dir) still serves the right files.
//!
//! Mounted as the router's fallback: `/api/*`, and methods other than GET and
//! HEAD, keep the JSON `route_not_found` answer.

use crate::middleware::route_not_found;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "../../web/dist"]
#[allow_missing = true]
struct Assets;

/// Hashed file names (`assets/index-BJPjcRy8.js`) never change content: cache a year.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Pages name the current hashed assets, so browsers must revalidate them.
const REVALIDATE: &str = "no-cache";

/// What a browser gets for a page when `web/dist` was not built.
const NOT_BUILT: &str = "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\">\
<title>chengyun: web assets not built</title>\
<body style=\"font-family:sans-serif;max-width:40em;margin:3em auto;line-height:1.6\">\
<h1>城运 · 前端尚未构建</h1>\
<p>The web front end (<code>web/dist</code>) was not built when this binary was compiled \
or started. Build it with</p>\
<pre>scripts/run.sh</pre><p>or</p><pre>npm --prefix web ci &amp;&amp; npm --prefix web run build</pre>\
<p>then restart <code>chengyun serve</code> (release builds: rebuild the binary). \
The API works meanwhile: <a href=\"/api/docs/\">/api/docs/</a>.</p></body></html>";

/// The embedded file a request path names, if it is one of ours.
fn asset_path(path: &str) -> Option<&str> {
    match path {
        "/" | "/index.html" => Some("index.html"),
        "/screen" | "/screen/" | "/screen.html" => Some("screen.html"),
        "/report" | "/report/" | "/report.html" => Some("report.html"),
        p => p
            .strip_prefix('/')
            .filter(|rest| !rest.is_empty() && !rest.split('/').any(|s| s == ".." || s.is_empty())),
    }
}

fn is_page(file: &str) -> bool {
    file.ends_with(".html")
}

/// The router's fallback: our pages and assets for GET/HEAD outside `/api/`,
/// the API's `route_not_found` for everything else.
pub async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    let browsable = (method == Method::GET || method == Method::HEAD)
        && path != "/api"
        && !path.starts_with("/api/");
    let Some(file) = browsable.then(|| asset_path(path)).flatten() else {
        return route_not_found(method, uri).await.into_response();
    };
    if let Some(res) = serve(file, &headers, method == Method::HEAD) {
        return res;
    }
    if is_page(file) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, REVALIDATE),
            ],
            NOT_BUILT,
        )
            .into_response();
    }
    route_not_found(method, uri).await.into_response()
}

/// A file to serve: its bytes, content type and digest.
struct Asset {
    data: Vec<u8>,
    mime: String,
    sha256: [u8; 32],
}

/// The directory `CHENGYUN_WEB_DIR` names, if set.
fn web_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("CHENGYUN_WEB_DIR")
        .filter(|v| !v.is_empty())
        .map(Into::into)
}

/// Content types of the files Vite writes.
fn mime_for(file: &str) -> &'static str {
    match file.rsplit('.').next().unwrap_or("") {
        "html" => "text/html",
        "js" | "mjs" => "application/javascript",
        "css" => "text/css",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain",
        _ => "application/octet-stream",
    }
}

/// The file from `CHENGYUN_WEB_DIR` when set, else the embedded one.
fn load(file: &str) -> Option<Asset> {
    if let Some(dir) = web_dir() {
        use sha2::Digest;
        let data = std::fs::read(dir.join(file)).ok()?;
        let sha256: [u8; 32] = sha2::Sha256::digest(&data).into();
        return Some(Asset {
            data,
            mime: mime_for(file).to_string(),
            sha256,
        });
    }
    let content = Assets::get(file)?;
    Some(Asset {
        mime: content.metadata.mimetype().to_string(),
        sha256: content.metadata.sha256_hash(),
        data: content.data.into_owned(),
    })
}

/// The file with its content type, cache policy and ETag; `None` when absent.
fn serve(file: &str, headers: &HeaderMap, head: bool) -> Option<Response> {
    let content = load(file)?;
    let etag = format!("\"{}\"", hex_prefix(&content.sha256));
    let cache = if file.starts_with("assets/") {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    let mut mime = content.mime;
    if (mime.starts_with("text/") || mime == "application/javascript") && !mime.contains("charset")
    {
        mime.push_str("; charset=utf-8");
    }
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut res = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else if head {
        let mut r = Response::new(Body::empty());
        if let Ok(len) = HeaderValue::from_str(&content.data.len().to_string()) {
            r.headers_mut().insert(header::CONTENT_LENGTH, len);
        }
        r
    } else {
        Response::new(Body::from(content.data))
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Some(res)
}

fn hex_prefix(hash: &[u8; 32]) -> String {
    hash[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the front end was built (and, in release builds, embedded).
pub fn assets_built() -> bool {
    load("index.html").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_assets_map_to_files() {
        assert_eq!(asset_path("/"), Some("index.html"));
        assert_eq!(asset_path("/screen"), Some("screen.html"));
        assert_eq!(asset_path("/report/"), Some("report.html"));
        assert_eq!(asset_path("/assets/a-1.js"), Some("assets/a-1.js"));
        assert_eq!(asset_path("/assets/../../etc/passwd"), None);
        assert_eq!(asset_path("/assets//x"), None);
    }

    #[tokio::test]
    async fn api_paths_and_writes_keep_the_json_not_found() {
        let r = fallback(
            Method::GET,
            Uri::from_static("/api/v1/nope"),
            HeaderMap::new(),
        )
        .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = fallback(Method::POST, Uri::from_static("/"), HeaderMap::new()).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            r.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/json"
        );
    }

    #[tokio::test]
    async fn the_workbench_page_is_served_or_explains_how_to_build_it() {
        let r = fallback(Method::GET, Uri::from_static("/"), HeaderMap::new()).await;
        let ct = r.headers().get(header::CONTENT_TYPE).unwrap().clone();
        assert!(ct.to_str().unwrap().starts_with("text/html"), "{ct:?}");
        if assets_built() {
            assert_eq!(r.status(), StatusCode::OK);
            let etag = r.headers().get(header::ETAG).unwrap().clone();
            let mut h = HeaderMap::new();
            h.insert(header::IF_NONE_MATCH, etag);
            let again = fallback(Method::GET, Uri::from_static("/"), h).await;
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        } else {
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
            let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
            assert!(String::from_utf8_lossy(&body).contains("npm --prefix web ci"));
        }
    }
}
