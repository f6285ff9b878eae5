//! Unit tests of index keys (Value equality: integer widths and floats one key, a string
//! never a number), predicate ranges, and the definitions file (round trip, corruption).

use std::sync::Arc;

use gremlin::value::{Predicate, Value};

use super::catalog::{IndexCatalog, IndexDef, IndexKind, DEFS_FILE_NAME};
use super::{key_ranges, IKey};

fn p(name: &str, args: Vec<Value>) -> Predicate {
    Predicate {
        text: false,
        name: Arc::from(name),
        args,
    }
}

#[test]
fn numbers_of_every_width_share_a_key_and_strings_do_not() {
    let k = IKey::of(&Value::Int(7));
    assert_eq!(k, IKey::of(&Value::Long(7)));
    assert_eq!(k, IKey::of(&Value::Byte(7)));
    assert_eq!(k, IKey::of(&Value::Double(7.0)));
    assert_ne!(k, IKey::of(&Value::str("7")));
    assert_eq!(
        IKey::of(&Value::Double(0.0)),
        IKey::of(&Value::Double(-0.0))
    );
    // Order of numbers is kept across signs.
    let mut xs = [-3.5, -1.0, 0.0, 0.25, 2.0, 1e300];
    xs.reverse();
    let mut keys: Vec<IKey> = xs.iter().map(|x| IKey::of(&Value::Double(*x))).collect();
    keys.sort();
    let want: Vec<IKey> = [-3.5, -1.0, 0.0, 0.25, 2.0, 1e300]
        .iter()
        .map(|x| IKey::of(&Value::Double(*x)))
        .collect();
    assert_eq!(keys, want);
}

#[test]
fn predicate_ranges_cover_their_matches() {
    let r = key_ranges(&p("lt", vec![Value::Int(5)])).expect("range");
    let (lo, hi) = &r[0];
    for x in [-100i64, 0, 4, 5] {
        let k = IKey::of(&Value::Long(x));
        assert!(*lo <= k && k <= *hi, "{x}");
    }
    assert!(IKey::of(&Value::Long(6)) > *hi);
    let w = key_ranges(&p(
        "within",
        vec![Value::List(vec![Value::Int(1), Value::str("a")])],
    ))
    .expect("within");
    assert_eq!(w.len(), 2);
    assert!(key_ranges(&p("neq", vec![Value::Int(1)])).is_none());
    // String ranges are left to scans (Java orders UTF-16 code units).
    assert!(key_ranges(&p("gt", vec![Value::str("a")])).is_none());
    assert_eq!(
        key_ranges(&p("between", vec![Value::Int(9), Value::Int(3)])),
        Some(Vec::new())
    );
}

#[test]
fn definitions_persist_with_a_checksum() {
    let dir = std::env::temp_dir().join(format!("cg-ixcat-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let cat = IndexCatalog::open(Some(&dir), 2).expect("open");
    let def = IndexDef {
        name: Arc::from("ab"),
        graph: Arc::from("g"),
        kind: IndexKind::VertexProps(vec![Arc::from("a"), Arc::from("b")]),
        memory_bytes_max: 1 << 20,
    };
    cat.create(def.clone()).expect("create");
    assert!(cat.create(def.clone()).is_err(), "duplicate accepted");
    cat.create(IndexDef {
        name: Arc::from("w"),
        graph: Arc::from("g"),
        kind: IndexKind::EdgeProp(Arc::from("w")),
        memory_bytes_max: 1 << 20,
    })
    .expect("create edge index");
    let again = IndexCatalog::open(Some(&dir), 2).expect("reopen");
    assert_eq!(again.defs().len(), 2);
    assert_eq!(*again.defs()[0], def);
    assert!(again.drop_index("w").expect("drop"));
    assert_eq!(
        IndexCatalog::open(Some(&dir), 2)
            .expect("reopen")
            .defs()
            .len(),
        1
    );
    // A flipped byte is refused, not half-read.
    let f = dir.join(DEFS_FILE_NAME);
    let mut bytes = std::fs::read(&f).expect("read");
    bytes[0] ^= 1;
    std::fs::write(&f, bytes).expect("write");
    assert!(IndexCatalog::open(Some(&dir), 2).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
