//! The Socket.IO browser client, served at `<path>socket.io.js` (and `.min.js`, source
//! maps) from a directory the user names, typically `node_modules/socket.io-client/dist/`.
//!
//! As the reference server does: `Content-Type: application/javascript; charset=utf-8`
//! (`application/json` for maps), `Cache-Control: public, max-age=0`, and an ETag of the
//! client's version (read from the package's `package.json`), answered with 304 when the
//! browser already has it. The files are read once, when configured.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::Path;

use crate::http::{Request, Response};

/// The files the reference serves, when the directory has them.
const FILES: [&str; 8] = [
    "socket.io.js",
    "socket.io.js.map",
    "socket.io.min.js",
    "socket.io.min.js.map",
    "socket.io.esm.min.js",
    "socket.io.esm.min.js.map",
    "socket.io.msgpack.min.js",
    "socket.io.msgpack.min.js.map",
];

#[derive(Debug, Default)]
pub(crate) struct Bundle {
    files: Vec<(&'static str, Vec<u8>)>,
    etag: String,
}

impl Bundle {
    /// Reads the client files from `dir`; `socket.io.js` must be there.
    pub(crate) fn load(dir: &Path) -> io::Result<Bundle> {
        let mut files = Vec::new();
        for name in FILES {
            match fs::read(dir.join(name)) {
                Ok(bytes) => files.push((name, bytes)),
                Err(e) if e.kind() == io::ErrorKind::NotFound && name != FILES[0] => {}
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("{}: {e}", dir.join(name).display()),
                    ))
                }
            }
        }
        Ok(Bundle {
            etag: format!(
                "\"{}\"",
                version(dir).unwrap_or_else(|| content_hash(&files))
            ),
            files,
        })
    }

    /// The response for a request under the endpoint's path, if it names a client file.
    pub(crate) fn serve(&self, req: &Request, base: &str) -> Option<Response> {
        let name = req.path().strip_prefix(base)?;
        let (name, body) = self.files.iter().find(|(n, _)| *n == name)?;
        // "All general-purpose servers MUST support the methods GET and HEAD" (RFC 9110
        // §9.1); the server sends a HEAD the GET's headers and length, without the body.
        if !matches!(req.method(), "GET" | "HEAD") {
            return Some(Response::status_text(405).header("Allow", "GET, HEAD"));
        }
        let weak = format!("W/{}", self.etag);
        if req
            .header("if-none-match")
            .is_some_and(|tag| tag == self.etag || tag == weak)
        {
            return Some(Response::new(304).header("ETag", &self.etag));
        }
        let kind = if name.ends_with(".map") {
            "application/json; charset=utf-8"
        } else {
            "application/javascript; charset=utf-8"
        };
        Some(
            Response::new(200)
                .header("Content-Type", kind)
                .header("Cache-Control", "public, max-age=0")
                .header("ETag", &self.etag)
                .body(body.clone()),
        )
    }
}

/// `version` from `<dir>/../package.json`, as the reference uses for its ETag.
fn version(dir: &Path) -> Option<String> {
    let text = fs::read_to_string(dir.parent()?.join("package.json")).ok()?;
    let package: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(package.get("version")?.as_str()?.to_owned())
}

fn content_hash(files: &[(&str, Vec<u8>)]) -> String {
    let mut h = DefaultHasher::new();
    files.hash(&mut h);
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_with_the_reference_headers_and_etag() {
        let dir = std::env::temp_dir().join(format!("wsreactor-bundle-{}", std::process::id()));
        let dist = dir.join("dist");
        fs::create_dir_all(&dist).unwrap();
        fs::write(dir.join("package.json"), r#"{"version":"4.8.4"}"#).unwrap();
        assert!(Bundle::load(&dist).is_err(), "socket.io.js is required");
        fs::write(dist.join("socket.io.js"), "/* client */").unwrap();
        let bundle = Bundle::load(&dist).unwrap();

        let get = |path: &str, etag: Option<&str>| {
            let headers: Vec<(&str, &str)> =
                etag.map(|e| ("If-None-Match", e)).into_iter().collect();
            bundle.serve(&Request::from_parts("GET", path, headers), "/socket.io/")
        };
        let mut out = Vec::new();
        get("/socket.io/socket.io.js", None)
            .unwrap()
            .write_to(&mut out, crate::http::Framing::default());
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Content-Type: application/javascript; charset=utf-8\r\n"));
        assert!(text.contains("Cache-Control: public, max-age=0\r\n"));
        assert!(text.contains("ETag: \"4.8.4\"\r\n"));
        assert!(text.ends_with("/* client */"));
        assert_eq!(
            get("/socket.io/socket.io.js", Some("\"4.8.4\""))
                .unwrap()
                .status(),
            304
        );
        assert_eq!(
            get("/socket.io/socket.io.js", Some("W/\"4.8.4\""))
                .unwrap()
                .status(),
            304
        );
        assert!(
            get("/socket.io/socket.io.min.js", None).is_none(),
            "absent file"
        );
        assert!(get("/other/socket.io.js", None).is_none());
        fs::remove_dir_all(&dir).unwrap();
    }
}
