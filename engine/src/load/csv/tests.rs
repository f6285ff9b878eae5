//! Unit tests of the Gremlin load CSV reader: header forms, types, cardinalities, quoting,
//! every error kind, range splitting, and a randomized no-panic test over mutated CSV.

use super::*;

fn read(kind: FileKind, text: &str) -> Result<Vec<Result<Row, RowError>>, RowError> {
    read_with(kind, text.as_bytes(), Limits::default())
}

fn read_with(
    kind: FileKind,
    data: &[u8],
    limits: Limits,
) -> Result<Vec<Result<Row, RowError>>, RowError> {
    Ok(CsvReader::open(Arc::from("t.csv"), kind, data, limits)?.collect())
}

fn vertices(text: &str) -> Vec<Result<VertexRow, RowError>> {
    match read(FileKind::Vertex, text) {
        Ok(rows) => rows
            .into_iter()
            .map(|r| match r {
                Ok(Row::Vertex(v)) => Ok(v),
                Ok(Row::Edge(e)) => panic!("edge from a vertex file: {e:?}"),
                Err(e) => Err(e),
            })
            .collect(),
        Err(e) => panic!("header error: {e}"),
    }
}

fn one_vertex(text: &str) -> VertexRow {
    let mut rows = vertices(text);
    assert_eq!(rows.len(), 1, "{rows:?}");
    match rows.pop() {
        Some(Ok(v)) => v,
        other => panic!("expected one vertex, got {other:?}"),
    }
}

fn row_error(kind: FileKind, text: &str) -> RowError {
    let rows = match read(kind, text) {
        Ok(r) => r,
        Err(e) => panic!("header error: {e}"),
    };
    let errs: Vec<RowError> = rows.into_iter().filter_map(|r| r.err()).collect();
    assert_eq!(errs.len(), 1, "{errs:?}");
    errs.into_iter().next().unwrap_or_else(|| unreachable!())
}

fn header_error(kind: FileKind, text: &str) -> RowError {
    match read(kind, text) {
        Err(e) => e,
        Ok(rows) => panic!("expected a header error, got rows {rows:?}"),
    }
}

fn prop<'a>(v: &'a VertexRow, name: &str) -> &'a PropValues {
    v.properties
        .iter()
        .find(|p| &*p.name == name)
        .unwrap_or_else(|| panic!("no property {name} in {v:?}"))
}

fn col(field: &str) -> PropColumn {
    parse_prop_column(field).unwrap_or_else(|e| panic!("{field}: {e}"))
}

#[test]
fn header_forms() {
    let c = col("name");
    assert_eq!(
        (c.ty, c.cardinality, c.multi),
        (PropType::String, Cardinality::Single, false)
    );
    let c = col("age:Int");
    assert_eq!(
        (&*c.name, c.ty, c.cardinality, c.multi),
        ("age", PropType::Int, Cardinality::Single, false)
    );
    let c = col("tags:String[]");
    assert_eq!((c.cardinality, c.multi), (Cardinality::Set, true));
    let c = col("age:int(single)");
    assert_eq!(
        (c.ty, c.cardinality, c.multi),
        (PropType::Int, Cardinality::Single, false)
    );
    let c = col("nick:String(set)");
    assert_eq!((c.cardinality, c.multi), (Cardinality::Set, false));
    let c = col("nick:String(set)[]");
    assert_eq!((c.cardinality, c.multi), (Cardinality::Set, true));
    let c = col("nick:String(list)[]");
    assert_eq!((c.cardinality, c.multi), (Cardinality::List, true));
    let c = col("x:Long:list");
    assert_eq!(
        (c.ty, c.cardinality, c.multi),
        (PropType::Long, Cardinality::List, true)
    );
    let c = col("x:Long:set");
    assert_eq!((c.cardinality, c.multi), (Cardinality::Set, true));
    let c = col("x:Long:single");
    assert_eq!((c.cardinality, c.multi), (Cardinality::Single, false));
    let c = col("a\\:b:Double");
    assert_eq!((&*c.name, c.ty), ("a:b", PropType::Double));
    for (name, ty) in [
        ("Bool", PropType::Bool),
        ("BOOLEAN", PropType::Bool),
        ("byte", PropType::Byte),
        ("Short", PropType::Short),
        ("INT", PropType::Int),
        ("Integer", PropType::Int),
        ("long", PropType::Long),
        ("Float", PropType::Float),
        ("double", PropType::Double),
        ("String", PropType::String),
        ("date", PropType::Date),
        ("UUID", PropType::Uuid),
        ("uuid", PropType::Uuid),
    ] {
        assert_eq!(col(&format!("p:{name}")).ty, ty, "{name}");
    }
    for bad in [
        "p:Decimal",
        "p:",
        ":Int",
        "p:Int(single)[]",
        "p:Int(many)",
        "p:Int(set):list",
        "p:Int:lots",
        "p:Int:set:x",
        "p:Int)",
        "my name:String",
    ] {
        assert!(parse_prop_column(bad).is_err(), "{bad} accepted");
    }
}

#[test]
fn header_errors() {
    let e = header_error(FileKind::Vertex, "~label,name\nperson,x\n");
    assert_eq!((e.kind, e.line), (RowErrorKind::MissingColumn, 1));
    let e = header_error(FileKind::Edge, "~id,~from,name\n");
    assert_eq!(e.kind, RowErrorKind::MissingColumn);
    let e = header_error(FileKind::Vertex, "~id,~id\n");
    assert_eq!(e.kind, RowErrorKind::DuplicateColumn);
    let e = header_error(FileKind::Vertex, "~id,age:Int,age:Long\n");
    assert_eq!(e.kind, RowErrorKind::DuplicateColumn);
    let e = header_error(FileKind::Vertex, "~id,~from\n");
    assert_eq!(e.kind, RowErrorKind::BadHeader);
    let e = header_error(FileKind::Vertex, "~id,~weird\n");
    assert_eq!(e.kind, RowErrorKind::BadHeader);
    let e = header_error(FileKind::Edge, "~from,~to,w:Double[]\n");
    assert_eq!(e.kind, RowErrorKind::BadHeader);
    let e = header_error(FileKind::Edge, "~from,~to,w:Double(set)\n");
    assert_eq!(e.kind, RowErrorKind::BadHeader);
    let e = header_error(FileKind::Vertex, "~id,a:Nope\n");
    assert_eq!(e.kind, RowErrorKind::BadHeader);
    let e = header_error(FileKind::Vertex, "");
    assert_eq!(e.kind, RowErrorKind::EmptyFile);
    let e = header_error(FileKind::Vertex, "\"~id\n");
    assert_eq!(e.kind, RowErrorKind::UnterminatedQuote);
    let limits = Limits {
        columns_max: 3,
        ..Limits::default()
    };
    let e = read_with(FileKind::Vertex, b"~id,a,b,c\n", limits).err();
    assert_eq!(e.map(|e| e.kind), Some(RowErrorKind::TooManyColumns));
    let limits = Limits {
        line_bytes_max: 8,
        ..Limits::default()
    };
    let e = read_with(FileKind::Vertex, b"~id,abcdefghij\n", limits).err();
    assert_eq!(e.map(|e| e.kind), Some(RowErrorKind::LineTooLong));
    assert!(RowErrorKind::MissingColumn.ends_file());
    assert!(!RowErrorKind::BadValue.ends_file());
}

#[test]
fn every_type_parses() {
    let v = one_vertex(
        "~id,~label,b:Bool,y:Byte,s:Short,i:Int,l:Long,f:Float,d:Double,t:String,dt:Date,u:UUID\n\
         v1,person,TRUE,-128,32767,-2147483648,9223372036854775807,1.5,-2.25e3,hello,2020-02-29,\
         123e4567-e89b-12d3-a456-426614174000\n",
    );
    assert_eq!(&*v.id, "v1");
    assert_eq!(&*v.label, "person");
    assert_eq!(v.line, 2);
    assert_eq!(&*v.file, "t.csv");
    let get = |n: &str| prop(&v, n).values.clone();
    assert_eq!(get("b"), vec![Value::Bool(true)]);
    assert_eq!(get("y"), vec![Value::Byte(-128)]);
    assert_eq!(get("s"), vec![Value::Short(32767)]);
    assert_eq!(get("i"), vec![Value::Int(i32::MIN)]);
    assert_eq!(get("l"), vec![Value::Long(i64::MAX)]);
    assert_eq!(get("f"), vec![Value::Float(1.5)]);
    assert_eq!(get("d"), vec![Value::Double(-2250.0)]);
    assert_eq!(get("t"), vec![Value::str("hello")]);
    assert_eq!(
        get("dt"),
        vec![Value::Date(days_from_civil(2020, 2, 29) * 86_400_000)]
    );
    assert_eq!(
        get("u"),
        vec![Value::Uuid(Uuid([
            0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17,
            0x40, 0x00
        ]))]
    );
    assert_eq!(prop(&v, "i").cardinality, Cardinality::Single);
}

#[test]
fn bad_values_are_row_errors_and_reading_continues() {
    for (ty, bad) in [
        ("Bool", "yes"),
        ("Byte", "128"),
        ("Short", "40000"),
        ("Int", "2147483648"),
        ("Int", "1.0"),
        ("Long", "x"),
        ("Float", "1,5"),
        ("Double", "one"),
        ("Date", "2021-02-29"),
        ("Date", "2021-13-01"),
        ("Date", "2021-01-01T25:00"),
        ("Date", "2021-01-01 10:00"),
        ("UUID", "123e4567e89b12d3a456426614174000"),
        ("UUID", "123e4567-e89b-12d3-a456-42661417400g"),
    ] {
        let text = format!("~id,p:{ty}\nv1,\"{bad}\"\nv2,\n");
        let rows = vertices(&text);
        assert_eq!(rows.len(), 2, "{ty} {bad}");
        match &rows[0] {
            Err(e) => {
                assert_eq!((e.kind, e.line), (RowErrorKind::BadValue, 2), "{ty} {bad}");
                assert!(e.message.contains("p"), "{}", e.message);
            }
            Ok(v) => panic!("{ty} {bad:?} accepted as {v:?}"),
        }
        match &rows[1] {
            Ok(v) => assert_eq!((&*v.id, v.line, v.properties.len()), ("v2", 3, 0)),
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn dates() {
    let day = days_from_civil(2024, 3, 5) * 86_400_000;
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    assert_eq!(days_from_civil(1969, 12, 31), -1);
    assert_eq!(parse_date("2024-03-05"), Some(day));
    assert_eq!(
        parse_date("2024-03-05T10:20"),
        Some(day + (10 * 3600 + 20 * 60) * 1000)
    );
    assert_eq!(
        parse_date("2024-03-05T10:20:30"),
        Some(day + (10 * 3600 + 20 * 60 + 30) * 1000)
    );
    assert_eq!(
        parse_date("2024-03-05T10:20:30Z"),
        Some(day + (10 * 3600 + 20 * 60 + 30) * 1000)
    );
    assert_eq!(
        parse_date("2024-03-05T10:20:30.5Z"),
        Some(day + (10 * 3600 + 20 * 60 + 30) * 1000 + 500)
    );
    assert_eq!(
        parse_date("2024-03-05T10:20:30.123456Z"),
        Some(day + (10 * 3600 + 20 * 60 + 30) * 1000 + 123)
    );
    assert_eq!(
        parse_date("2024-03-05T10:20+02:00"),
        Some(day + (8 * 3600 + 20 * 60) * 1000)
    );
    assert_eq!(
        parse_date("2024-03-05T10:20-0130"),
        Some(day + (11 * 3600 + 50 * 60) * 1000)
    );
    assert_eq!(
        parse_date("2024-03-05T10:20:00+02"),
        Some(day + (8 * 3600 + 20 * 60) * 1000)
    );
    for bad in [
        "",
        "2024",
        "2024-3-5",
        "2024-03-05T",
        "2024-03-05T10",
        "2024-03-05Z",
        "2024-03-05T10:20:30.Z",
        "2024-03-05T10:20Zx",
        "2024-03-05T10:20+2",
    ] {
        assert_eq!(parse_date(bad), None, "{bad}");
    }
}

#[test]
fn multi_values_and_escapes() {
    let v = one_vertex(
        "~id,tags:String[],n:Int[],s:String(set),l:Long:list\nv1,a;b\\;c;;d,1;2; 3,x;y,5;6\n",
    );
    let tags = prop(&v, "tags");
    assert_eq!(tags.cardinality, Cardinality::Set);
    assert_eq!(
        tags.values,
        vec![Value::str("a"), Value::str("b;c"), Value::str("d")]
    );
    assert_eq!(
        prop(&v, "n").values,
        vec![Value::Int(1), Value::Int(2), Value::Int(3)]
    );
    // (set) without [] is one value per row (Neptune), not split.
    let s = prop(&v, "s");
    assert_eq!(
        (s.cardinality, s.values.clone()),
        (Cardinality::Set, vec![Value::str("x;y")])
    );
    let l = prop(&v, "l");
    assert_eq!(
        (l.cardinality, l.values.clone()),
        (Cardinality::List, vec![Value::Long(5), Value::Long(6)])
    );
    // A cell of only separators holds no value: the property is absent.
    let v = one_vertex("~id,tags:String[]\nv1,;;\n");
    assert!(v.properties.is_empty());
    let e = row_error(FileKind::Vertex, "~id,n:Int[]\nv1,1;x\n");
    assert_eq!(e.kind, RowErrorKind::BadValue);
    let data = "~id,n:Int[]\nv1,1;2;3;4;5\n";
    let limits = Limits {
        values_per_cell_max: 4,
        ..Limits::default()
    };
    let rows = read_with(FileKind::Vertex, data.as_bytes(), limits).unwrap_or_default();
    assert!(
        matches!(
            &rows[..],
            [Err(RowError {
                kind: RowErrorKind::TooManyValues,
                ..
            })]
        ),
        "{rows:?}"
    );
}

#[test]
fn quoting() {
    let v = one_vertex("~id,a,b,c\r\n\"v,1\",\"say \"\"hi\"\"\",\"line1\nline2\r\nline3\",\r\n");
    assert_eq!(&*v.id, "v,1");
    assert_eq!(prop(&v, "a").values, vec![Value::str("say \"hi\"")]);
    assert_eq!(
        prop(&v, "b").values,
        vec![Value::str("line1\nline2\r\nline3")]
    );
    assert!(
        v.properties.iter().all(|p| &*p.name != "c"),
        "empty c is no value"
    );
    // Quoted empty is still empty; quoted header fields work too.
    let v = one_vertex("\"~id\",\"a\"\nv1,\"\"\n");
    assert!(v.properties.is_empty());
    // Line numbers count physical lines, rows after a multi-line field are right.
    let rows = vertices("~id,a\nv1,\"x\ny\nz\"\n\nv2,b\n");
    let lines: Vec<u64> = rows
        .iter()
        .map(|r| r.as_ref().map(|v| v.line).unwrap_or(0))
        .collect();
    assert_eq!(lines, vec![2, 6]);
    // BOM and a last row without a newline.
    let v = one_vertex("\u{feff}~id,a\nv1,x");
    assert_eq!(prop(&v, "a").values, vec![Value::str("x")]);
    // Strings are verbatim (spaces kept), numbers trimmed.
    let v = one_vertex("~id,s,n:Int\nv1, a ,  7 \n");
    assert_eq!(prop(&v, "s").values, vec![Value::str(" a ")]);
    assert_eq!(prop(&v, "n").values, vec![Value::Int(7)]);
}

#[test]
fn quoting_errors() {
    let e = row_error(FileKind::Vertex, "~id,a\nv1,ab\"c\nv2,x\n\"\n");
    assert_eq!((e.kind, e.line), (RowErrorKind::BadQuote, 2));
    let e = row_error(FileKind::Vertex, "~id,a\nv1,\"ab\"c\n");
    assert_eq!((e.kind, e.line), (RowErrorKind::BadQuote, 2));
    let e = row_error(FileKind::Vertex, "~id,a\nv1,x\nv2,\"open\n");
    assert_eq!((e.kind, e.line), (RowErrorKind::UnterminatedQuote, 3));
}

#[test]
fn row_errors_each_kind() {
    let e = row_error(FileKind::Vertex, "~id,a\nv1\n");
    assert_eq!((e.kind, e.line), (RowErrorKind::ColumnCount, 2));
    let e = row_error(FileKind::Vertex, "~id,a\nv1,x,y\n");
    assert_eq!(e.kind, RowErrorKind::ColumnCount);
    let e = row_error(FileKind::Vertex, "~id,a\n,x\n");
    assert_eq!(e.kind, RowErrorKind::MissingId);
    let e = row_error(FileKind::Vertex, "~id,~label\nv1,a;b\n");
    assert_eq!(e.kind, RowErrorKind::MultipleLabels);
    let e = row_error(FileKind::Edge, "~from,~to\nv1,\n");
    assert_eq!(e.kind, RowErrorKind::MissingId);
    let rows = read_with(
        FileKind::Vertex,
        b"~id,a\nv1,\xff\xfe\nv2,ok\n",
        Limits::default(),
    )
    .unwrap_or_default();
    assert_eq!(rows.len(), 2);
    assert!(
        matches!(
            &rows[0],
            Err(RowError {
                kind: RowErrorKind::Encoding,
                line: 2,
                ..
            })
        ),
        "{rows:?}"
    );
    assert!(rows[1].is_ok());
    let limits = Limits {
        field_bytes_max: 4,
        ..Limits::default()
    };
    let rows =
        read_with(FileKind::Vertex, b"~id,a\nv1,abcde\nv2,abcd\n", limits).unwrap_or_default();
    assert!(
        matches!(
            &rows[0],
            Err(RowError {
                kind: RowErrorKind::FieldTooLong,
                ..
            })
        ),
        "{rows:?}"
    );
    assert!(rows[1].is_ok());
    let limits = Limits {
        line_bytes_max: 12,
        ..Limits::default()
    };
    let rows = read_with(
        FileKind::Vertex,
        b"~id,a\nv1,\"abcdefghijklmnop\nq\"\nv2,x\n",
        limits,
    )
    .unwrap_or_default();
    assert!(
        matches!(
            &rows[0],
            Err(RowError {
                kind: RowErrorKind::LineTooLong,
                line: 2,
                ..
            })
        ),
        "{rows:?}"
    );
    assert!(
        matches!(&rows[1], Ok(Row::Vertex(VertexRow { line: 4, .. }))),
        "{rows:?}"
    );
    let limits = Limits {
        columns_max: 2,
        ..Limits::default()
    };
    let rows = read_with(FileKind::Vertex, b"~id,a\nv1,x,y,z\n", limits).unwrap_or_default();
    assert!(
        matches!(
            &rows[0],
            Err(RowError {
                kind: RowErrorKind::TooManyColumns,
                ..
            })
        ),
        "{rows:?}"
    );
}

#[test]
fn labels_and_edges() {
    let v = one_vertex("~id,~label\nv1,\n");
    assert_eq!(&*v.label, "vertex");
    let v = one_vertex("~id\nv1\n");
    assert_eq!(&*v.label, "vertex");
    let rows = read(
        FileKind::Edge,
        "~id,~from,~to,~label,w:Double\ne1,v1,v2,knows,0.5\n,v2,v3,,\n",
    )
    .unwrap_or_default();
    assert_eq!(
        rows,
        vec![
            Ok(Row::Edge(EdgeRow {
                file: Arc::from("t.csv"),
                line: 2,
                id: Some(Arc::from("e1")),
                label: Arc::from("knows"),
                from: Arc::from("v1"),
                to: Arc::from("v2"),
                properties: vec![PropValues {
                    name: Arc::from("w"),
                    cardinality: Cardinality::Single,
                    values: vec![Value::Double(0.5)]
                }],
            })),
            Ok(Row::Edge(EdgeRow {
                file: Arc::from("t.csv"),
                line: 3,
                id: None,
                label: Arc::from("edge"),
                from: Arc::from("v2"),
                to: Arc::from("v3"),
                properties: vec![],
            })),
        ]
    );
    // Edge ~id column is optional.
    let rows = read(FileKind::Edge, "~from,~to\na,b\n").unwrap_or_default();
    assert!(matches!(
        &rows[..],
        [Ok(Row::Edge(EdgeRow { id: None, .. }))]
    ));
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("coregraph-csv-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    d
}

#[test]
fn split_ranges_match_sequential_read() {
    let dir = temp_dir("split");
    let path = dir.join("v.csv");
    let mut text = String::from("~id,note,n:Int\n");
    for i in 0..500 {
        match i % 5 {
            0 => text.push_str(&format!("v{i},\"multi\nline, \"\"quoted\"\"\",{i}\n")),
            1 => text.push_str(&format!("v{i},plain,{i}\r\n")),
            2 => text.push_str(&format!("v{i},,bad\n")),
            3 => text.push('\n'),
            _ => text.push_str(&format!("\"v{i}\",\"\n\",{i}\n")),
        }
    }
    std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{e}"));
    let whole: Vec<_> = CsvReader::open(
        Arc::from(path.display().to_string()),
        FileKind::Vertex,
        text.as_bytes(),
        Limits::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .collect();
    assert_eq!(whole.iter().filter(|r| r.is_err()).count(), 100);
    for parts in [1, 2, 3, 7, 64] {
        let plan = plan_file(&path, FileKind::Vertex, parts, Limits::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(plan.ranges.len() <= parts && !plan.ranges.is_empty());
        if parts > 1 {
            assert!(plan.ranges.len() > 1, "parts {parts}: {:?}", plan.ranges);
        }
        for w in plan.ranges.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        assert_eq!(plan.ranges.last().map(|r| r.end), Some(text.len() as u64));
        let mut split = Vec::new();
        for r in &plan.ranges {
            split
                .extend(open_range(&plan, *r, Limits::default()).unwrap_or_else(|e| panic!("{e}")));
        }
        assert_eq!(split, whole, "parts {parts}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn discover_finds_label_folders() {
    let dir = temp_dir("discover");
    for p in [
        "vertices/person/a.csv",
        "vertices/b.csv",
        "vertices/.hidden",
        "edges/knows/x.csv",
    ] {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap_or(&dir)).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&path, "~id\n").unwrap_or_else(|e| panic!("{e}"));
    }
    let found = discover(&dir).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<(String, FileKind)> = found
        .iter()
        .map(|f| {
            (
                f.path
                    .strip_prefix(&dir)
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                f.kind,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("vertices/b.csv".to_string(), FileKind::Vertex),
            ("vertices/person/a.csv".to_string(), FileKind::Vertex),
            ("edges/knows/x.csv".to_string(), FileKind::Edge),
        ]
    );
    assert!(discover(&dir.join("vertices/person")).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A small deterministic generator (SplitMix64) for the randomized tests.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SEEDS: &[&str] = &[
    "~id,~label,name:String,age:Int,tags:String[],d:Date,u:UUID,x:Double(single),l:Long:list\n\
     v1,person,\"A, \"\"b\"\"\",30,a;b\\;c,2020-01-01T00:00:00Z,123e4567-e89b-12d3-a456-426614174000,1.5,1;2\n\
     v2,,\"multi\nline\",,,,,,\nv3,a;b,x,1,,,,,\n",
    "~id,~from,~to,~label,w:Double\ne1,v1,v2,knows,0.5\n,v2,v1,,\r\n\"e3\",\"v\"\"1\",v2,x,1e3\n",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8] = b"\",;\n\r\\:~[]()0aZ-.T \xff\xc3";
    let mut d = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(d.len() + 1);
        match rng.below(4) {
            0 if at < d.len() => {
                d.remove(at);
            }
            1 => d.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
            2 if at < d.len() => d[at] = ALPHABET[rng.below(ALPHABET.len())],
            _ => {
                let from = rng.below(d.len());
                let len = rng.below(16).min(d.len() - from);
                let chunk = d[from..from + len].to_vec();
                d.splice(at..at, chunk);
            }
        }
    }
    d
}

/// Runs the fuzz oracle over randomly mutated CSV for `COREGRAPH_FUZZ_SECONDS` seconds
/// (default: 3000 inputs, about a second).
#[test]
fn randomized_no_panic() {
    let seconds: Option<u64> = std::env::var("COREGRAPH_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok());
    let started = std::time::Instant::now();
    let mut rng = Rng(0x5eed);
    let mut n = 0u64;
    loop {
        let seed = SEEDS[rng.below(SEEDS.len())].as_bytes();
        let data = mutate(&mut rng, seed);
        fuzz_one(&data);
        n += 1;
        match seconds {
            Some(s) if started.elapsed().as_secs() >= s => break,
            None if n >= 3000 => break,
            _ => {}
        }
    }
    assert!(n > 0);
}

/// Replays every input the libFuzzer target ever saved (`engine/fuzz/regressions/csv/`).
#[test]
fn fuzz_regressions_stay_fixed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/csv");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries.flatten() {
        if let Ok(data) = std::fs::read(e.path()) {
            fuzz_one(&data);
        }
    }
}

/// Writes the libFuzzer seed corpus: `cargo test -p engine --lib load::csv -- --ignored`.
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/csv");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let mut rng = Rng(7);
    for (i, s) in SEEDS.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:03}")), s).unwrap_or_else(|e| panic!("{e}"));
    }
    for i in SEEDS.len()..16 {
        let d = mutate(&mut rng, SEEDS[i % SEEDS.len()].as_bytes());
        std::fs::write(dir.join(format!("seed-{i:03}")), d).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn tiny_read_buffers_give_the_same_rows() {
    let text = "\u{feff}~id,a:String[],b\r\n\"v\n1\",\"x;\"\"y\"\"\",z\r\n\r\nv2,,\"\"\"\"\nv3,\"bad\"x,\n";
    let whole = read(FileKind::Vertex, text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(whole.len(), 3);
    assert!(whole[2].is_err());
    for cap in 1..8 {
        let r = CsvReader::open(
            Arc::from("t.csv"),
            FileKind::Vertex,
            io::BufReader::with_capacity(cap, text.as_bytes()),
            Limits::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let rows: Vec<_> = r.collect();
        assert_eq!(rows, whole, "buffer of {cap} bytes");
    }
}
