//! The dashboard's files: Trunk's `frontend/dist`, embedded in the `layercast` binary (its
//! `main.rs` holds the `RustEmbed`, so that a change of the frontend relinks the binary
//! without recompiling this library), or read from a folder (`http.static_dir`), which
//! overrides the embedded copy.
//!
//! Every GET that no route takes comes here. A path that names a file gets the file; any other
//! path outside `/api/` gets the app's `index.html`, so that a link to a page of the
//! client-side router (`/layers/L3`, `/alerts`) opens that page. Unknown `/api/` paths get the
//! API's JSON 404, never the app.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::api::ApiError;

/// Looks up a file of the embedded dashboard by its path below `dist/` (`index.html`,
/// `layercast-frontend-<hash>.js`): `RustEmbed::get` of the binary's embed.
pub type AssetLookup = fn(&str) -> Option<rust_embed::EmbeddedFile>;

/// The page every client-side route is answered with.
const INDEX: &str = "index.html";
/// Trunk names every file but `index.html` after a hash of its content (`filehash` in
/// Trunk.toml), so a browser may keep them for good; `index.html` must be asked for again each
/// time, or a browser would keep running an old build after an upgrade.
const HASHED_MAX_AGE_SECS: u32 = 365 * 24 * 3600;

/// Where the dashboard's files come from.
#[derive(Clone)]
pub enum DashboardFiles {
    /// Files built into the binary.
    Embedded(AssetLookup),
    /// A folder of Trunk's output (`--static-dir`), read at each request.
    Folder(PathBuf),
}

impl DashboardFiles {
    /// The folder when one is configured, else the embedded files when the binary has them.
    /// `None`: the API works, and `/` says how to get the dashboard.
    pub fn choose(
        static_dir: Option<&Path>,
        embedded: Option<AssetLookup>,
    ) -> Option<DashboardFiles> {
        match (static_dir, embedded) {
            (Some(dir), _) => Some(DashboardFiles::Folder(dir.to_path_buf())),
            (None, Some(lookup)) if lookup(INDEX).is_some() => {
                Some(DashboardFiles::Embedded(lookup))
            }
            (None, _) => None,
        }
    }

    /// Whether `index.html` is there (a folder may be missing or not built yet).
    pub fn has_index(&self) -> bool {
        match self {
            DashboardFiles::Embedded(lookup) => lookup(INDEX).is_some(),
            DashboardFiles::Folder(dir) => dir.join(INDEX).is_file(),
        }
    }

    /// What the log says it serves.
    pub fn describe(&self) -> String {
        match self {
            DashboardFiles::Embedded(_) => "embedded in the binary".to_owned(),
            DashboardFiles::Folder(dir) => dir.display().to_string(),
        }
    }

    fn read(&self, path: &str) -> Option<Cow<'static, [u8]>> {
        match self {
            DashboardFiles::Embedded(lookup) => lookup(path).map(|f| f.data),
            // `path` is checked by `file_path` to stay inside the folder.
            DashboardFiles::Folder(dir) => std::fs::read(dir.join(path)).ok().map(Cow::Owned),
        }
    }
}

/// The request path as a file path below `dist/`: `None` when it could leave the folder or is
/// not a plain relative path.
fn file_path(request_path: &str) -> Option<&str> {
    let path = request_path.trim_start_matches('/');
    let path = if path.is_empty() { INDEX } else { path };
    let plain = path
        .split('/')
        .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains('\\'));
    plain.then_some(path)
}

/// Endings of the files Trunk writes: a missing one is a 404, not a page. Entity names in page
/// paths have dots of their own (`/entities/L3/10.0.1.0%2F24`), so any other path is a page.
const ASSET_ENDINGS: [&str; 10] = [
    ".js", ".wasm", ".css", ".html", ".map", ".ico", ".png", ".svg", ".json", ".txt",
];

/// Whether a path that names no file is a page of the app (answered with `index.html`) rather
/// than a missing file (`/app.js`), the API or the socket.
fn is_page(request_path: &str) -> bool {
    let reserved =
        ["/api", "/ws", "/metrics"].contains(&request_path) || request_path.starts_with("/api/");
    !reserved
        && !ASSET_ENDINGS
            .iter()
            .any(|ending| request_path.ends_with(ending))
}

/// The default service: the dashboard's files and pages, or a JSON 404.
pub async fn serve_file(
    req: HttpRequest,
    files: web::Data<Option<DashboardFiles>>,
) -> Result<HttpResponse, ApiError> {
    let request_path = req.path();
    let not_found = || ApiError::NotFound(format!("{} {request_path}", req.method()));
    if !matches!(
        *req.method(),
        actix_web::http::Method::GET | actix_web::http::Method::HEAD
    ) {
        return Err(not_found());
    }
    let Some(files) = files.get_ref() else {
        if is_page(request_path) {
            return Ok(HttpResponse::NotFound()
                .content_type("text/plain; charset=utf-8")
                .body(NO_DASHBOARD));
        }
        return Err(not_found());
    };
    let wanted = file_path(request_path).ok_or_else(not_found)?.to_owned();
    let page = is_page(request_path);
    // A folder is read from disk: off the async worker, as the database is.
    let files = files.clone();
    let found = web::block(move || match files.read(&wanted) {
        Some(body) => Some((wanted, body)),
        None if page => files.read(INDEX).map(|body| (INDEX.to_owned(), body)),
        None => None,
    })
    .await?;
    let (path, body) = found.ok_or_else(not_found)?;
    let path = path.as_str();
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let cache = if path == INDEX {
        CacheControl(vec![CacheDirective::NoCache])
    } else {
        CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(HASHED_MAX_AGE_SECS),
            CacheDirective::Extension("immutable".to_owned(), None),
        ])
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, mime.essence_str().to_owned()))
        .insert_header(cache)
        .body(body))
}

/// What `/` says when the binary was built without the dashboard and no folder is set.
const NO_DASHBOARD: &str = "This layercast binary has no dashboard built in. Build it with scripts/build-frontend \
and rebuild layercast, or serve a built one with --static-dir DIR. The API (/api/...) and the WebSocket (/ws) work without it.\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths_map_to_files_inside_dist_only() {
        assert_eq!(file_path("/"), Some("index.html"));
        assert_eq!(file_path("/app-1f2e.js"), Some("app-1f2e.js"));
        assert_eq!(file_path("/assets/x.css"), Some("assets/x.css"));
        for escaping in [
            "/../etc/passwd",
            "/a/../../b",
            "/a//b",
            "/.\\x",
            "/./index.html",
        ] {
            assert_eq!(file_path(escaping), None, "{escaping}");
        }
    }

    #[test]
    fn pages_of_the_app_but_not_files_the_api_or_the_socket() {
        for page in [
            "/",
            "/layers/L3",
            "/entities/L2/fra1-spine1%2Fet49",
            "/entities/L3/10.0.1.0%2F24",
            "/admin/rules",
            "/login",
        ] {
            assert!(is_page(page), "{page}");
        }
        for other in [
            "/app.js",
            "/api",
            "/api/nothing",
            "/ws",
            "/metrics",
            "/favicon.ico",
        ] {
            assert!(!is_page(other), "{other}");
        }
    }
}
