//! Graph files in and out of the store: streaming GraphSON import/export ([`graphson`]), the
//! `g.io(file).read()` / `.write()` requests the executor runs with it ([`IoRequest`]), and
//! the confinement of their file names to the server's io directory ([`resolve_under`]), and
//! the offline runner of `coregraph import` / `coregraph export` ([`offline`]).

pub mod graphson;
#[cfg(test)]
mod graphson_tests;
pub mod offline;
pub mod retry;

use std::path::{Component, Path, PathBuf};

use gremlin::bytecode::Bytecode;
use gremlin::machine::io::{IoAction, IoFormat, READER_KEY, WRITER_KEY};
use gremlin::value::Value;
use gremlin::GremlinError;

/// Longest file name an `io()` step may give.
pub const IO_PATH_BYTES_MAX: usize = 4096;

/// A whole traversal that is one `io(file)[.with(IO.reader|IO.writer, format)].read()` or
/// `.write()` (optionally ended by `discard()`/`none()`, which drivers add for `iterate()`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoRequest {
    pub file: String,
    pub action: IoAction,
}

fn unsupported(what: &str) -> GremlinError {
    GremlinError::Runtime(format!(
        "io(): unsupported format {what}: this server reads and writes graphson (GraphSON 3.0 adjacency lists) only"
    ))
}

impl IoRequest {
    /// The request `bc` is, if it is an io() traversal: `None` when it is not (it runs as
    /// any traversal), `Some(Err)` when it is one this server cannot run (a format other
    /// than GraphSON, a misplaced step).
    pub fn of(bc: &Bytecode) -> Option<Result<IoRequest, GremlinError>> {
        let first = bc.steps.first()?;
        if &*first.op != "io" {
            return None;
        }
        Some(Self::parse(bc))
    }

    fn parse(bc: &Bytecode) -> Result<IoRequest, GremlinError> {
        let mut steps = bc.steps.iter();
        let file = match steps.next().map(|i| i.args.as_slice()) {
            Some([Value::String(s)]) => s.to_string(),
            _ => {
                return Err(GremlinError::compile(
                    "io() takes one argument: the file name",
                ))
            }
        };
        let mut action = None;
        let mut chosen: Vec<(String, String)> = Vec::new();
        for step in steps {
            match (&*step.op, step.args.as_slice(), action) {
                ("with", [Value::String(k), v], None) => {
                    let v = match v {
                        Value::String(s) => s.to_string(),
                        other => {
                            return Err(GremlinError::Runtime(format!(
                                "io(): {k} must be a String, got {}",
                                other.type_name()
                            )))
                        }
                    };
                    chosen.push((k.to_string(), v));
                }
                ("read", [], None) => action = Some(IoAction::Read),
                ("write", [], None) => action = Some(IoAction::Write),
                ("discard" | "none", [], Some(_)) => {}
                (op, _, _) => {
                    return Err(GremlinError::compile(format!(
                        "io(): unexpected step {op}() (expected io(file), with(IO.reader|IO.writer, format), read() or write())"
                    )))
                }
            }
        }
        let action = action
            .ok_or_else(|| GremlinError::compile("io() must be followed by read() or write()"))?;
        let key = match action {
            IoAction::Read => READER_KEY,
            IoAction::Write => WRITER_KEY,
        };
        let format = match chosen.iter().rev().find(|(k, _)| k == key) {
            Some((_, name)) => IoFormat::from_name(name).ok_or_else(|| unsupported(name))?,
            None => IoFormat::from_file(&file).ok_or_else(|| {
                GremlinError::Runtime(format!(
                    "Could not detect the file format - specify the reader/writer explicitly for {file}"
                ))
            })?,
        };
        if format != IoFormat::GraphSon {
            return Err(unsupported(&format!("{format:?}").to_ascii_lowercase()));
        }
        Ok(IoRequest { file, action })
    }
}

/// The path `file` names under `dir`: relative names only, `.` and `..` resolved without
/// leaving `dir`, and the directory that would hold the file (symbolic links followed) inside
/// `dir` too. Errors say why a name is refused.
pub fn resolve_under(dir: &Path, file: &str) -> Result<PathBuf, String> {
    if file.is_empty() || file.len() > IO_PATH_BYTES_MAX {
        return Err(format!(
            "io(): file name must be 1 to {IO_PATH_BYTES_MAX} bytes"
        ));
    }
    let mut rel = PathBuf::new();
    for c in Path::new(file).components() {
        match c {
            Component::Normal(part) => rel.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !rel.pop() {
                    return Err(format!(
                        "io(): {file} is outside the io directory {}",
                        dir.display()
                    ));
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "io(): {file} is an absolute path; give a name relative to the io directory {}",
                    dir.display()
                ))
            }
        }
    }
    if rel.as_os_str().is_empty() {
        return Err(format!("io(): {file} names the io directory itself"));
    }
    let root = dir
        .canonicalize()
        .map_err(|e| format!("io(): io directory {}: {e}", dir.display()))?;
    let path = root.join(&rel);
    let parent = path.parent().unwrap_or(&root);
    let real_parent = parent
        .canonicalize()
        .map_err(|e| format!("io(): {file}: {e}"))?;
    if !real_parent.starts_with(&root) {
        return Err(format!(
            "io(): {file} is outside the io directory {}",
            dir.display()
        ));
    }
    // The file itself may be a link out of the directory.
    if let Ok(real) = path.canonicalize() {
        if !real.starts_with(&root) {
            return Err(format!(
                "io(): {file} is outside the io directory {}",
                dir.display()
            ));
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bc(steps: &[(&str, Vec<Value>)]) -> Bytecode {
        let mut b = Bytecode::default();
        for (op, args) in steps {
            b = b.step(op, args.clone());
        }
        b
    }

    #[test]
    fn io_requests_are_recognised_and_formats_checked() {
        let read = bc(&[("io", vec![Value::str("a.json")]), ("read", vec![])]);
        assert_eq!(
            IoRequest::of(&read).and_then(Result::ok),
            Some(IoRequest {
                file: "a.json".into(),
                action: IoAction::Read
            })
        );
        let write = bc(&[
            ("io", vec![Value::str("a.out")]),
            ("with", vec![Value::str(WRITER_KEY), Value::str("graphson")]),
            ("write", vec![]),
            ("discard", vec![]),
        ]);
        assert_eq!(
            IoRequest::of(&write).and_then(Result::ok).map(|r| r.action),
            Some(IoAction::Write)
        );
        let gryo = bc(&[
            ("io", vec![Value::str("a.json")]),
            ("with", vec![Value::str(READER_KEY), Value::str("gryo")]),
            ("read", vec![]),
        ]);
        let err = IoRequest::of(&gryo).and_then(Result::err);
        assert!(err.is_some_and(|e| e.to_string().contains("unsupported format gryo")));
        let xml = bc(&[("io", vec![Value::str("a.xml")]), ("read", vec![])]);
        let err = IoRequest::of(&xml).and_then(Result::err);
        assert!(err.is_some_and(|e| e.to_string().contains("unsupported format graphml")));
        let not_io = bc(&[("V", vec![])]);
        assert!(IoRequest::of(&not_io).is_none());
        let no_action = bc(&[("io", vec![Value::str("a.json")])]);
        assert!(IoRequest::of(&no_action).is_some_and(|r| r.is_err()));
    }

    #[test]
    fn paths_stay_under_the_io_directory() {
        let base = std::env::temp_dir().join(format!("coregraph-io-{}", std::process::id()));
        let dir = base.join("io");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let root = dir.canonicalize().unwrap();
        assert_eq!(
            resolve_under(&dir, "sub/../x.json").unwrap(),
            root.join("x.json")
        );
        assert_eq!(
            resolve_under(&dir, "./sub/y.json").unwrap(),
            root.join("sub/y.json")
        );
        for bad in ["../x.json", "sub/../../x.json", "/etc/passwd", ".", ""] {
            assert!(resolve_under(&dir, bad).is_err(), "{bad} accepted");
        }
        let err = resolve_under(&dir, "../escape.json").unwrap_err();
        assert!(err.contains("outside the io directory"), "{err}");
        // A link inside the directory to a place outside it is refused too.
        std::os::unix::fs::symlink(&base, dir.join("out")).unwrap();
        assert!(resolve_under(&dir, "out/x.json").is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
