//! The console's files (`serve --ui DIR`): regular files inside DIR only.
//! A path with a dot segment (dotfiles such as `/.env`, and `..`) is not
//! served, nor anything a symlink leads to outside DIR; `/` is `index.html`.
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::path::{Path, PathBuf};

/// The file `uri` names inside `root` (canonical), if it may be served.
pub fn resolve(root: &Path, uri_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(uri_path)?;
    let mut path = root.to_path_buf();
    let mut segments = 0;
    for seg in decoded.split('/').filter(|s| !s.is_empty()) {
        if seg.starts_with('.') || seg.contains('\\') || seg.contains('\0') {
            return None;
        }
        path.push(seg);
        segments += 1;
    }
    if segments == 0 {
        path.push("index.html");
    }
    // Symlinks are followed only as far as they stay inside the root.
    let real = std::fs::canonicalize(&path).ok()?;
    (real.starts_with(root) && std::fs::metadata(&real).ok()?.is_file()).then_some(real)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(p: &Path) -> &'static str {
    match p.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Answers a request for a file of the console.
pub async fn serve(root: PathBuf, uri: Uri) -> Response {
    let Some(file) = resolve(&root, uri.path()) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let path = file.clone();
    match tokio::task::spawn_blocking(move || std::fs::read(path)).await {
        Ok(Ok(bytes)) => {
            let mut r = bytes.into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&file)));
            r
        }
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paths as they arrive, unnormalised (a client may send `..` as is).
    #[test]
    fn only_regular_files_inside_the_root() {
        let d = std::env::temp_dir().join(format!("argus-ui-{}", std::process::id()));
        let root = d.join("ui");
        std::fs::create_dir_all(root.join("assets")).unwrap();
        std::fs::write(root.join("index.html"), "i").unwrap();
        std::fs::write(root.join("assets/a.js"), "a").unwrap();
        std::fs::write(root.join(".env"), "s").unwrap();
        std::fs::write(d.join("secret"), "s").unwrap();
        let _ = std::os::unix::fs::symlink(d.join("secret"), root.join("link"));
        let root = std::fs::canonicalize(&root).unwrap();
        assert_eq!(resolve(&root, "/"), Some(root.join("index.html")));
        assert_eq!(resolve(&root, "/assets/a.js"), Some(root.join("assets/a.js")));
        for bad in [
            "/.env",
            "/%2eenv",
            "/../secret",
            "/assets/../../secret",
            "/assets/%2e%2e/%2e%2e/secret",
            "/link",
            "/assets",
            "/%zz",
            "/a\\..\\secret",
        ] {
            assert_eq!(resolve(&root, bad), None, "{bad}");
        }
        let _ = std::fs::remove_dir_all(&d);
    }
}
