//! The model settings a data directory's records depend on, recorded in it (`model.def`):
//! the indexed edge keys. Adjacency-index entries carry copies of those keys' values and a
//! supernode's `outE().has(k, P)` drops entries whose copy fails `P` without reading the
//! pack, so an entry written without a copy of `k` would be dropped wrongly if `k` became
//! indexed later. The keys are therefore fixed when the directory is created; a later open
//! uses them (or a subset) and may not add one.

use std::path::Path;
use std::sync::Arc;

/// The file, in the data directory.
pub const SETTINGS_FILE_NAME: &str = "model.def";
/// Largest `model.def` read (it holds one short line per setting).
pub const SETTINGS_FILE_BYTES_MAX: u64 = 64 * 1024;

const KEYS_LINE: &str = "indexed_edge_keys = ";

fn sorted(keys: &[Arc<str>]) -> Vec<String> {
    let mut v: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    v.sort();
    v.dedup();
    v
}

fn text(keys: &[String]) -> String {
    format!("{KEYS_LINE}{}\n", keys.join(","))
}

/// Parses `model.def`: the recorded indexed edge keys (sorted).
fn parse(body: &str, path: &Path) -> Result<Vec<String>, String> {
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix(KEYS_LINE.trim_end()) {
            let rest = rest.trim();
            return Ok(if rest.is_empty() {
                Vec::new()
            } else {
                rest.split(',').map(|k| k.trim().to_string()).collect()
            });
        }
    }
    Err(format!(
        "{}: no `indexed_edge_keys` line (a damaged file?)",
        path.display()
    ))
}

fn write(path: &Path, body: &str) -> Result<(), String> {
    let tmp = path.with_extension("def.tmp");
    let go = || -> std::io::Result<()> {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(body.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(parent) = path.parent() {
            std::fs::File::open(parent)?.sync_all()?;
        }
        Ok(())
    };
    go().map_err(|e| format!("writing {}: {e}", path.display()))
}

/// The indexed edge keys an open of `dir` runs with, given the ones it asked for (`keys`;
/// empty: none asked for) and what `dir` recorded, recording them when it recorded nothing
/// yet. `created`: the directory was created by this open (it holds no records).
///
/// - Recorded `R`: no keys asked for gives `R`; a subset of `R` gives that subset (entries
///   carry more copies than used: harmless); a key outside `R` is refused (entries written
///   without its copy would be dropped by the pushdown).
/// - Nothing recorded: a new directory records what was asked; an existing one (from before
///   this file) was written without keys: it is recorded as such and keys are refused.
pub fn resolve_indexed_edge_keys(
    dir: &Path,
    created: bool,
    keys: &[Arc<str>],
) -> Result<Vec<Arc<str>>, String> {
    let path = dir.join(SETTINGS_FILE_NAME);
    let want = sorted(keys);
    let to_arcs = |k: &[String]| k.iter().map(|s| Arc::from(s.as_str())).collect();
    match std::fs::metadata(&path) {
        Ok(m) => {
            if m.len() > SETTINGS_FILE_BYTES_MAX {
                return Err(format!(
                    "{}: {} bytes, over SETTINGS_FILE_BYTES_MAX = {SETTINGS_FILE_BYTES_MAX}",
                    path.display(),
                    m.len()
                ));
            }
            let body = std::fs::read_to_string(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            let have = parse(&body, &path)?;
            if want.is_empty() {
                return Ok(to_arcs(&have));
            }
            let missing: Vec<&String> = want.iter().filter(|k| !have.contains(k)).collect();
            if !missing.is_empty() {
                return Err(format!(
                    "{} holds edges indexed on [{}] only (its adjacency entries carry copies of those keys, not of {missing:?}); open it with --indexed-edge-keys {} (or a subset, or none to use them all)",
                    dir.display(),
                    have.join(","),
                    have.join(","),
                ));
            }
            Ok(to_arcs(&want))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !created && !want.is_empty() {
                return Err(format!(
                    "{} holds edges written without indexed edge keys; indexed edge keys ([{}]) can only be chosen when a data directory is created (load or restore into a new one)",
                    dir.display(),
                    want.join(",")
                ));
            }
            write(&path, &text(&want))?;
            Ok(to_arcs(&want))
        }
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> Vec<Arc<str>> {
        k.iter().map(|s| Arc::from(*s)).collect()
    }

    #[test]
    fn keys_are_fixed_when_a_directory_is_created() {
        let dir = std::env::temp_dir().join(format!("cg-model-def-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let r = |created, k: &[&str]| resolve_indexed_edge_keys(&dir, created, &keys(k));
        // A new directory records its keys; the same keys (any order) open it again, none
        // asked for gives them all, a subset gives the subset.
        assert_eq!(r(true, &["w", "since"]).unwrap(), keys(&["since", "w"]));
        assert_eq!(
            r(false, &["since", "w", "w"]).unwrap(),
            keys(&["since", "w"])
        );
        assert_eq!(r(false, &[]).unwrap(), keys(&["since", "w"]));
        assert_eq!(r(false, &["w"]).unwrap(), keys(&["w"]));
        // A key the entries carry no copy of is refused, naming the keys to use.
        let e = r(false, &["w", "v"]).unwrap_err();
        assert!(e.contains("--indexed-edge-keys since,w"), "{e}");
        // A directory from before the file: recorded as no keys; keys refused on it.
        let old = dir.join("old");
        std::fs::create_dir_all(&old).unwrap();
        let e = resolve_indexed_edge_keys(&old, false, &keys(&["w"])).unwrap_err();
        assert!(
            e.contains("only be chosen when a data directory is created"),
            "{e}"
        );
        assert!(!old.join(SETTINGS_FILE_NAME).exists());
        assert!(resolve_indexed_edge_keys(&old, false, &[])
            .unwrap()
            .is_empty());
        assert!(resolve_indexed_edge_keys(&old, false, &keys(&["w"])).is_err());
        // A damaged file is an error, not "no keys".
        std::fs::write(old.join(SETTINGS_FILE_NAME), "garbage\n").unwrap();
        assert!(resolve_indexed_edge_keys(&old, false, &[]).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
