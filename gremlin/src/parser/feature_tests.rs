//! Parses every traversal of the TinkerPop feature suite, and checks that mutated suite
//! traversals never make the parser panic.
//!
//! The suite directory is `$COREGRAPH_TINKERPOP` (the directory holding `features/`), else
//! `../shared/tinkerpop` next to the repository. If it is absent the test prints a loud
//! message and passes, unless `CI=true`, where it fails.

use std::path::{Path, PathBuf};

use super::{parse, to_gremlin, ParseError};
use crate::value::Value;

/// One traversal text found in a feature file, with the parameter names its scenario binds.
struct Found {
    file: String,
    scenario: String,
    text: String,
    params: Vec<String>,
}

fn suite_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("COREGRAPH_TINKERPOP") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/tinkerpop"),
    };
    let features = base.join("features");
    if features.is_dir() {
        return Some(features);
    }
    if base.is_dir() && base.ends_with("features") {
        return Some(base);
    }
    let msg = format!(
        "!!!!! TinkerPop feature suite not found at {} (set COREGRAPH_TINKERPOP); \
         feature-suite parser test SKIPPED !!!!!",
        base.display()
    );
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{msg} (failing because CI=true)"
    );
    eprintln!("{msg}");
    None
}

fn feature_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            feature_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "feature") {
            out.push(path);
        }
    }
}

/// The traversal texts of one feature file: docstrings after `the traversal of` and `the graph
/// initializer of`, and the strings of `the graph should return N for count of "..."`.
fn extract(file: &str, content: &str, out: &mut Vec<Found>) {
    let mut scenario = String::new();
    let mut params: Vec<String> = Vec::new();
    let mut lines = content.lines();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("Scenario:") {
            scenario = name.trim().to_string();
            params.clear();
        } else if let Some(rest) = t.split("using the parameter ").nth(1) {
            if let Some(name) = rest.split_whitespace().next() {
                params.push(name.to_string());
            }
        } else if t.ends_with("the traversal of") || t.ends_with("the graph initializer of") {
            if lines.next().map(str::trim) != Some("\"\"\"") {
                continue;
            }
            let mut text = String::new();
            for l in lines.by_ref() {
                if l.trim() == "\"\"\"" {
                    break;
                }
                text.push_str(l.trim());
                text.push('\n');
            }
            out.push(Found {
                file: file.to_string(),
                scenario: scenario.clone(),
                text,
                params: params.clone(),
            });
        } else if let Some(rest) = t.split(" for count of \"").nth(1) {
            if let Some(body) = rest.strip_suffix('"') {
                out.push(Found {
                    file: file.to_string(),
                    scenario: scenario.clone(),
                    text: body.replace("\\\"", "\""),
                    params: params.clone(),
                });
            }
        }
    }
}

fn all_traversals() -> Option<Vec<Found>> {
    let dir = suite_dir()?;
    let mut files = Vec::new();
    feature_files(&dir, &mut files);
    assert!(
        !files.is_empty(),
        "no .feature files under {}",
        dir.display()
    );
    let mut found = Vec::new();
    for path in files {
        let content = std::fs::read_to_string(&path).unwrap_or_default();
        let name = path
            .strip_prefix(&dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        extract(&name, &content, &mut found);
    }
    Some(found)
}

#[test]
fn every_feature_suite_traversal_parses() {
    let Some(found) = all_traversals() else {
        return;
    };
    let mut failures = Vec::new();
    let mut lambdas = 0;
    let mut round_trip = Vec::new();
    for f in &found {
        let lookup = |name: &str| {
            f.params
                .iter()
                .any(|p| p == name)
                .then(|| Value::str("placeholder"))
        };
        match parse(&f.text, &lookup) {
            Ok(b) => {
                // Printing and re-parsing gives the same bytecode.
                match to_gremlin(&b) {
                    Ok(text) => match parse(&text, &lookup) {
                        Ok(again) if again == b => {}
                        Ok(again) => round_trip.push(format!(
                            "{} :: {}\n    {text}\n    {again:?}\n    {b:?}",
                            f.file, f.scenario
                        )),
                        Err(e) => round_trip
                            .push(format!("{} :: {}\n    {text}\n    {e}", f.file, f.scenario)),
                    },
                    Err(e) => round_trip.push(format!("{} :: {}: {e}", f.file, f.scenario)),
                }
            }
            Err(e) => {
                if f.text.contains('{') && e.to_string().contains("lambda") {
                    lambdas += 1;
                }
                failures.push(format!(
                    "{} :: {}\n    {}\n    {}",
                    f.file,
                    f.scenario,
                    f.text.trim().replace('\n', "\n    "),
                    e
                ));
            }
        }
    }
    eprintln!(
        "feature suite: {} traversals, {} parsed, {} failed ({} of them lambdas)",
        found.len(),
        found.len() - failures.len(),
        failures.len(),
        lambdas
    );
    for f in &failures {
        eprintln!("{f}");
    }
    // The suite has about 2,750 traversal texts (2,061 scenarios plus initializers and
    // count checks); fewer means the extraction broke.
    assert!(found.len() > 2500, "only {} traversals found", found.len());
    assert_eq!(
        failures.len(),
        lambdas,
        "non-lambda traversals failed to parse"
    );
    eprintln!(
        "round trip (print, parse again, compare): {} of {} differ",
        round_trip.len(),
        found.len() - failures.len()
    );
    for r in &round_trip {
        eprintln!("round trip: {r}");
    }
    assert!(
        round_trip.is_empty(),
        "{} round trips differ",
        round_trip.len()
    );
}

/// xorshift64*: a small deterministic generator for the mutation test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: &[&[u8]] = &[
    b"(",
    b")",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b".",
    b":",
    b";",
    b"'",
    b"\"",
    b"\\",
    b"\\u",
    b"-",
    b"+",
    b"0x",
    b"1e",
    b"9999999999999999999999",
    b"__.",
    b"P.",
    b"T.",
    b"within(",
    b"datetime(",
    b"UUID(",
    b"..",
    b"[:]",
    b"\xc3\xa9",
    b"\xff",
    b"\n",
    b"//",
    b"-Infinity",
    b"Cardinality.list(",
    b"new ",
    b"1.5m",
    b"0b",
    b"'a'..'",
    b"1..",
    b"negate()",
    b"\x00",
];

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut b = base.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(5) {
            0 => {
                let end = (at + rng.below(16)).min(b.len());
                b.drain(at..end);
            }
            1 => {
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                b.splice(at..at, piece.iter().copied());
            }
            2 => {
                b.insert(at, (rng.next() & 0xff) as u8);
            }
            3 => {
                let end = (at + rng.below(32)).min(b.len());
                let piece: Vec<u8> = b.get(at..end).map(<[u8]>::to_vec).unwrap_or_default();
                let to = rng.below(b.len() + 1);
                b.splice(to..to, piece);
            }
            _ => {
                b.truncate(at);
            }
        }
    }
    b
}

/// Runs `parse` on `text`, turning a panic into a test failure that shows the input.
fn parse_no_panic(text: &str, lookup: &dyn Fn(&str) -> Option<Value>) -> Option<ParseError> {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse(text, lookup)));
    match outcome {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => panic!("parse panicked on input {text:?}; add it to REGRESSIONS"),
    }
}

/// Edge inputs (truncations, odd escapes, extreme literals); none may panic.
const REGRESSIONS: &[&str] = &[
    "g.inject(-",
    "g.inject('\\u",
    "g.inject(0x",
    "g.inject(1e",
    "g.inject(1.5e+",
    "g.inject(1_",
    "g.inject('a'..",
    "g.inject(1..'a')",
    "g.inject({",
    "g.V().map{",
    "g.inject([(",
    "g.inject(\"\\ud800\")",
    "g.inject(P.not(",
    "g.inject(gt(1).and(",
    "g.inject(datetime('9999999999-01-01'))",
    "g.inject(datetime('2023-01-01T00:00:00.1234567890Z'))",
];

/// Stable-toolchain fuzzing: mutated feature-suite traversals (and the regression inputs) must
/// never make `parse` panic. Runs 20,000 inputs, or for `COREGRAPH_FUZZ_SECONDS` seconds if
/// set (CI runs it for 60).
#[test]
fn mutated_feature_traversals_never_panic() {
    let lookup = |name: &str| name.starts_with("xx").then(|| Value::Int(1));
    for text in REGRESSIONS {
        let _ = parse_no_panic(text, &lookup);
    }
    let texts: Vec<String> = match all_traversals() {
        Some(found) => found.into_iter().map(|f| f.text).collect(),
        None => vec![
            "g.V().has('name', P.within(['a','b'])).out('knows').values('name')".to_string(),
            "g.withStrategies(SubgraphStrategy(vertices: __.has('x'))).V().order().by(desc)"
                .to_string(),
        ],
    };
    let seconds: u64 = std::env::var("COREGRAPH_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    let seed = std::env::var("COREGRAPH_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9E37_79B9_7F4A_7C15u64);
    let mut rng = Rng(seed | 1);
    let (mut rounds, mut ok) = (0u64, 0u64);
    while rounds < 20_000 || std::time::Instant::now() < deadline {
        let base = &texts[rng.below(texts.len())];
        let bytes = mutate(&mut rng, base.as_bytes());
        let text = String::from_utf8_lossy(&bytes);
        rounds += 1;
        match parse_no_panic(&text, &lookup) {
            None => ok += 1,
            Some(e) => {
                // Error positions always point inside (or at the end of) the text.
                assert!(
                    e.offset <= text.len(),
                    "offset {} beyond {text:?}",
                    e.offset
                );
                assert!(e.line >= 1 && e.column >= 1);
                assert!(!e.to_string().is_empty());
            }
        }
    }
    eprintln!("mutation test (seed {seed}): {rounds} inputs, {ok} still parsed");
    assert!(ok < rounds, "mutations never produced an error");
}
