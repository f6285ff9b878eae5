//! Unit tests of the gremlin-lang parser: one group per construct, then error positions.

use std::sync::Arc;

use num_bigint::BigInt;

use super::*;
use crate::bytecode::Instruction;
use crate::value::{BigDecimal, EnumKind, EnumValue, Map, Predicate, Set, Strategy, Uuid};

fn no_params(_: &str) -> Option<Value> {
    None
}

fn ok(text: &str) -> Bytecode {
    match parse(text, &no_params) {
        Ok(b) => b,
        Err(e) => panic!("{text:?} failed: {e}"),
    }
}

fn err(text: &str) -> ParseError {
    match parse(text, &no_params) {
        Ok(b) => panic!("{text:?} parsed as {b:?}"),
        Err(e) => e,
    }
}

/// The single argument of `g.inject(<lit>)`.
fn lit(text: &str) -> Value {
    let b = ok(&format!("g.inject({text})"));
    assert_eq!(b.steps.len(), 1);
    assert_eq!(
        b.steps[0].args.len(),
        1,
        "{text:?} gave {:?}",
        b.steps[0].args
    );
    b.steps[0].args[0].clone()
}

fn s(x: &str) -> Value {
    Value::str(x)
}

fn e(kind: EnumKind, name: &str) -> Value {
    Value::Enum(EnumValue {
        kind,
        name: Arc::from(name),
    })
}

fn p(name: &str, args: Vec<Value>) -> Value {
    Value::P(Arc::new(Predicate {
        text: false,
        name: Arc::from(name),
        args,
    }))
}

fn tp(name: &str, args: Vec<Value>) -> Value {
    Value::P(Arc::new(Predicate {
        text: true,
        name: Arc::from(name),
        args,
    }))
}

fn anon(steps: Vec<(&str, Vec<Value>)>) -> Value {
    Value::Bytecode(Arc::new(Bytecode {
        source: Vec::new(),
        steps: steps
            .into_iter()
            .map(|(op, args)| Instruction::new(op, args))
            .collect(),
    }))
}

fn ops(b: &Bytecode) -> Vec<&str> {
    b.steps.iter().map(|i| &*i.op).collect()
}

// ---------------------------------------------------------------- traversal shape

#[test]
fn simple_traversal() {
    let b = ok("g.V().has('name','marko').out('knows').values('name')");
    assert!(b.source.is_empty());
    assert_eq!(ops(&b), ["V", "has", "out", "values"]);
    assert!(b.steps[0].args.is_empty());
    assert_eq!(b.steps[1].args, vec![s("name"), s("marko")]);
    assert_eq!(b.steps[2].args, vec![s("knows")]);
}

#[test]
fn java_step_names_kept() {
    let b = ok("g.V().as('a').in('x').from('a').to('b').by('n').option(1, __.out()).inV()");
    assert_eq!(
        ops(&b),
        ["V", "as", "in", "from", "to", "by", "option", "inV"]
    );
}

#[test]
fn spawn_steps() {
    for (text, op) in [
        ("g.addV('person')", "addV"),
        ("g.addE('knows').from(__.V(1)).to(__.V(2))", "addE"),
        ("g.E()", "E"),
        ("g.mergeV([name: 'a'])", "mergeV"),
        ("g.mergeE(null)", "mergeE"),
        ("g.inject(1, 2)", "inject"),
        ("g.io('data.json').read()", "io"),
        ("g.call('tinker.search', [search: 'x'])", "call"),
        ("g.call()", "call"),
        ("g.union(__.V(1), __.V(2))", "union"),
    ] {
        assert_eq!(ok(text).steps[0].op.as_ref(), op, "{text}");
    }
}

#[test]
fn source_instructions() {
    let b = ok(
        "g.withSideEffect('a', [1, 2]).withSack(1.0d, Operator.sum).withBulk(false).withPath()\
         .with('evaluationTimeout', 10L).V()",
    );
    let src: Vec<&str> = b.source.iter().map(|i| &*i.op).collect();
    assert_eq!(
        src,
        ["withSideEffect", "withSack", "withBulk", "withPath", "with"]
    );
    assert_eq!(
        b.source[0].args,
        vec![s("a"), Value::List(vec![Value::Int(1), Value::Int(2)])]
    );
    assert_eq!(
        b.source[1].args,
        vec![Value::Double(1.0), e(EnumKind::Operator, "sum")]
    );
    assert_eq!(
        b.source[4].args,
        vec![s("evaluationTimeout"), Value::Long(10)]
    );
    assert_eq!(ops(&b), ["V"]);
    // Short operator form, and `with` after the start step is a step.
    let b = ok("g.withSack(0, sum).V().with('x')");
    assert_eq!(b.source[0].args[1], e(EnumKind::Operator, "sum"));
    assert_eq!(ops(&b), ["V", "with"]);
}

#[test]
fn strategies() {
    let b = ok(
        "g.withStrategies(new SubgraphStrategy(vertices: __.has('name', 'x'), \
                checkAdjacentVertices: false), ReadOnlyStrategy).\
                withoutStrategies(LazyBarrierStrategy, CountStrategy).V()",
    );
    let mut config = Map::new();
    config.insert(s("vertices"), anon(vec![("has", vec![s("name"), s("x")])]));
    config.insert(s("checkAdjacentVertices"), Value::Bool(false));
    assert_eq!(b.source[0].op.as_ref(), "withStrategies");
    assert_eq!(
        b.source[0].args,
        vec![
            Value::Strategy(Arc::new(Strategy {
                class: Arc::from("SubgraphStrategy"),
                config,
            })),
            Value::Strategy(Arc::new(Strategy {
                class: Arc::from("ReadOnlyStrategy"),
                config: Map::new(),
            })),
        ]
    );
    assert_eq!(b.source[1].op.as_ref(), "withoutStrategies");
    assert_eq!(
        b.source[1].args,
        vec![
            Value::Class(Arc::from("LazyBarrierStrategy")),
            Value::Class(Arc::from("CountStrategy"))
        ]
    );
    // Strategy keys that are tokens elsewhere stay strings.
    let b = ok(
        "g.withStrategies(SeedStrategy(seed: 99999L), PartitionStrategy(partitionKey: \"_p\", \
                writePartition: \"a\", readPartitions: [\"a\"])).V()",
    );
    let Value::Strategy(st) = &b.source[0].args[1] else {
        panic!("not a strategy")
    };
    assert_eq!(st.config.len(), 3);
    assert_eq!(
        st.config.get(&s("readPartitions")),
        Some(&Value::List(vec![s("a")]))
    );
    // withComputer() is the VertexProgramStrategy.
    let b = ok("g.withComputer().V()");
    assert_eq!(b.source[0].op.as_ref(), "withStrategies");
}

#[test]
fn anonymous_traversals() {
    let b = ok("g.V().where(__.out('knows').in()).where(out()).local(both().limit(1))");
    assert_eq!(
        b.steps[1].args,
        vec![anon(vec![("out", vec![s("knows")]), ("in", vec![])])]
    );
    assert_eq!(b.steps[2].args, vec![anon(vec![("out", vec![])])]);
    assert_eq!(
        b.steps[3].args,
        vec![anon(vec![("both", vec![]), ("limit", vec![Value::Int(1)])])]
    );
    // Nested three deep.
    let b = ok("g.V().repeat(__.union(__.out(), in().where(values('a')))).times(2)");
    let Value::Bytecode(outer) = &b.steps[1].args[0] else {
        panic!("not bytecode")
    };
    assert_eq!(outer.steps[0].op.as_ref(), "union");
    assert_eq!(outer.steps[0].args.len(), 2);
}

#[test]
fn not_is_step_or_predicate() {
    let b = ok("g.V().not(__.out()).where(not(out('a'))).is(not(eq(1))).is(P.not(P.within(1,2)))");
    assert_eq!(b.steps[1].args, vec![anon(vec![("out", vec![])])]);
    assert_eq!(
        b.steps[2].args,
        vec![anon(vec![("not", vec![anon(vec![("out", vec![s("a")])])])])]
    );
    assert_eq!(
        b.steps[3].args,
        vec![p("not", vec![p("eq", vec![Value::Int(1)])])]
    );
    assert_eq!(
        b.steps[4].args,
        vec![p(
            "not",
            vec![p("within", vec![Value::Int(1), Value::Int(2)])]
        )]
    );
}

#[test]
fn terminals() {
    let cases = [
        ("g.V().next()", Some(Terminal::Next(None))),
        ("g.V().next(2)", Some(Terminal::Next(Some(2)))),
        ("g.V().toList()", Some(Terminal::ToList)),
        ("g.V().toSet()", Some(Terminal::ToSet)),
        ("g.V().toBulkSet()", Some(Terminal::ToBulkSet)),
        ("g.V().iterate();", Some(Terminal::Iterate)),
        ("g.V().hasNext()", Some(Terminal::HasNext)),
        ("g.V().tryNext()", Some(Terminal::TryNext)),
        ("g.V().explain()", Some(Terminal::Explain)),
        ("g.V().count();", None),
    ];
    for (text, want) in cases {
        let (b, t) = parse_request(text, &no_params).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t, want, "{text}");
        assert_eq!(ops(&b)[0], "V");
    }
    assert_eq!(ok("g.V().next()").steps.len(), 1);
    // A terminal must be last.
    let e = err("g.V().next().count()");
    assert_eq!(e.offset, "g.V().next()".len());
}

#[test]
fn comments_and_whitespace() {
    let b = ok("g.V() // all vertices\n  .out('knows')\t.\n values('name') // done");
    assert_eq!(ops(&b), ["V", "out", "values"]);
}

// ---------------------------------------------------------------- literals

#[test]
fn integer_suffixes() {
    assert_eq!(lit("1b"), Value::Byte(1));
    assert_eq!(lit("-128b"), Value::Byte(-128));
    assert_eq!(lit("1s"), Value::Short(1));
    assert_eq!(lit("1S"), Value::Short(1));
    assert_eq!(lit("7i"), Value::Int(7));
    assert_eq!(lit("7l"), Value::Long(7));
    assert_eq!(lit("7L"), Value::Long(7));
    assert_eq!(lit("7n"), Value::BigInt(BigInt::from(7)));
    assert_eq!(
        lit("123456789012345678901234567890n"),
        Value::BigInt("123456789012345678901234567890".parse().unwrap_or_default())
    );
}

#[test]
fn unsuffixed_integers_widen() {
    assert_eq!(lit("1"), Value::Int(1));
    assert_eq!(lit("-1"), Value::Int(-1));
    assert_eq!(lit("+1"), Value::Int(1));
    assert_eq!(lit("2147483647"), Value::Int(i32::MAX));
    assert_eq!(lit("2147483648"), Value::Long(2_147_483_648));
    assert_eq!(lit("-2147483648"), Value::Int(i32::MIN));
    assert_eq!(lit("9223372036854775807"), Value::Long(i64::MAX));
    assert_eq!(
        lit("9223372036854775808"),
        Value::BigInt(BigInt::from(i64::MAX) + 1)
    );
    assert_eq!(lit("1_000_000"), Value::Int(1_000_000));
    assert_eq!(lit("0"), Value::Int(0));
}

#[test]
fn hex_and_octal() {
    assert_eq!(lit("0x1F"), Value::Int(31));
    assert_eq!(lit("0xffl"), Value::Long(255));
    assert_eq!(lit("-0x10"), Value::Int(-16));
    assert_eq!(lit("017"), Value::Int(15));
    assert_eq!(lit("0x1_0"), Value::Int(16));
}

#[test]
fn integer_out_of_range_is_an_error() {
    let e = err("g.inject(128b)");
    assert_eq!(e.offset, 9);
    assert!(e.to_string().contains("out of range for Byte"), "{e}");
    assert!(err("g.inject(40000s)").to_string().contains("Short"));
    assert!(err("g.inject(3000000000i)").to_string().contains("Integer"));
    assert!(err("g.inject(99999999999999999999l)")
        .to_string()
        .contains("Long"));
    assert!(err("g.inject(09)").to_string().contains("octal"));
}

#[test]
fn decimals() {
    assert_eq!(lit("1.5"), Value::Double(1.5));
    assert_eq!(lit("1.5d"), Value::Double(1.5));
    assert_eq!(lit("1.5D"), Value::Double(1.5));
    assert_eq!(lit("2d"), Value::Double(2.0));
    assert_eq!(lit("-0.25"), Value::Double(-0.25));
    assert_eq!(lit("1e3"), Value::Double(1000.0));
    assert_eq!(lit("1.5E-1"), Value::Double(0.15));
    assert_eq!(lit("1.5f"), Value::Float(1.5));
    assert_eq!(lit("3F"), Value::Float(3.0));
    assert_eq!(
        lit("1.50m"),
        Value::BigDecimal(BigDecimal {
            unscaled: BigInt::from(150),
            scale: 2
        })
    );
    assert_eq!(
        lit("-1.5e3m"),
        Value::BigDecimal(BigDecimal {
            unscaled: BigInt::from(-15),
            scale: -2
        })
    );
    assert_eq!(
        lit("7m"),
        Value::BigDecimal(BigDecimal {
            unscaled: BigInt::from(7),
            scale: 0
        })
    );
}

#[test]
fn special_doubles_null_bools() {
    assert!(matches!(lit("NaN"), Value::Double(x) if x.is_nan()));
    assert_eq!(lit("Infinity"), Value::Double(f64::INFINITY));
    assert_eq!(lit("-Infinity"), Value::Double(f64::NEG_INFINITY));
    assert_eq!(lit("+Infinity"), Value::Double(f64::INFINITY));
    assert_eq!(lit("null"), Value::Null);
    assert_eq!(lit("true"), Value::Bool(true));
    assert_eq!(lit("false"), Value::Bool(false));
}

#[test]
fn strings_and_escapes() {
    assert_eq!(lit("'a b'"), s("a b"));
    assert_eq!(lit("\"a'b\""), s("a'b"));
    assert_eq!(lit("'a\"b'"), s("a\"b"));
    assert_eq!(lit("''"), s(""));
    assert_eq!(lit("\"\""), s(""));
    assert_eq!(lit(r#"'it\'s'"#), s("it's"));
    assert_eq!(lit(r#""say \"hi\"""#), s("say \"hi\""));
    assert_eq!(
        lit(r"'a\tb\nc\\d\re\bf\fg'"),
        s("a\tb\nc\\d\re\u{8}f\u{c}g")
    );
    assert_eq!(lit(r"'\u00e9\uuu0041'"), s("éA"));
    assert_eq!(lit(r"'\ud83d\ude00'"), s("😀"));
    assert_eq!(lit(r"'\101\7\60'"), s("A\u{7}0"));
    assert_eq!(lit("'ünï'"), s("ünï"));
    assert_eq!(lit("'line\\\nnext'"), s("linenext"));
    let e = err(r"g.inject('\q')");
    assert_eq!(e.offset, 9);
    assert!(e.to_string().contains("unknown escape"), "{e}");
    let e = err("g.inject('abc");
    assert!(e.to_string().contains("unterminated string"), "{e}");
}

#[test]
fn lists_maps_sets() {
    assert_eq!(lit("[]"), Value::List(vec![]));
    assert_eq!(
        lit("[1, 'a', [2L]]"),
        Value::List(vec![
            Value::Int(1),
            s("a"),
            Value::List(vec![Value::Long(2)])
        ])
    );
    assert_eq!(lit("[:]"), Value::Map(Map::new()));
    let Value::Map(m) = lit(
        "[a:1, \"b\":2, (T.id):3, 1:4, id:5, label:'x', (Direction.OUT):6, \
                              OUT:7, [1]:8, 1.5d:9, (keys):10, values:11]",
    ) else {
        panic!("not a map")
    };
    let want = [
        (s("a"), Value::Int(1)),
        (s("b"), Value::Int(2)),
        (e(EnumKind::T, "id"), Value::Int(3)),
        (s("id"), Value::Int(5)),
        (Value::Int(1), Value::Int(4)),
        (s("label"), s("x")),
        (e(EnumKind::Direction, "OUT"), Value::Int(6)),
        (s("OUT"), Value::Int(7)),
        (Value::List(vec![Value::Int(1)]), Value::Int(8)),
        (Value::Double(1.5), Value::Int(9)),
        (e(EnumKind::Column, "keys"), Value::Int(10)),
        (s("values"), Value::Int(11)),
    ];
    assert_eq!(m.len(), want.len());
    for (k, v) in want {
        assert_eq!(m.get(&k), Some(&v), "key {k:?}");
    }
    // Insertion order is kept (first occurrence of a key).
    assert_eq!(m.get_index(0).map(|(k, _)| k), Some(&s("a")));
    let mut set = Set::new();
    set.insert(Value::Int(1));
    set.insert(s("x"));
    assert_eq!(lit("{1, 'x', 1}"), Value::Set(set));
    assert_eq!(lit("{}"), Value::Set(Set::new()));
    // Maps as values and nested structures.
    let Value::Map(m) = lit("[name: 'a', props: [x: [1, 2], y: {3}]]") else {
        panic!("not a map")
    };
    assert!(matches!(m.get(&s("props")), Some(Value::Map(inner)) if inner.len() == 2));
}

#[test]
fn ranges() {
    assert_eq!(
        lit("1..3"),
        Value::List(vec![Value::Int(1), Value::Int(2), Value::Int(3)])
    );
    assert_eq!(
        lit("2..0"),
        Value::List(vec![Value::Int(2), Value::Int(1), Value::Int(0)])
    );
    assert_eq!(lit("'a'..'c'"), Value::List(vec![s("a"), s("b"), s("c")]));
    assert!(err("g.inject(1..10000000)").to_string().contains("limit"));
    assert!(err("g.inject('ab'..'c')").to_string().contains("length"));
    assert!(err("g.inject('a'..'\u{10ffff}')")
        .to_string()
        .contains("limit"));
}

#[test]
fn huge_numbers_are_refused_quickly() {
    let digits = "7".repeat(NUMBER_DIGITS_MAX + 1);
    let e = err(&format!("g.inject({digits})"));
    assert!(e.to_string().contains("digits"), "{e}");
    let e = err(&format!("g.inject(1.{digits}m)"));
    assert!(e.to_string().contains("digits"), "{e}");
    let ok_digits = "7".repeat(NUMBER_DIGITS_MAX);
    assert!(matches!(lit(&ok_digits), Value::BigInt(_)));
    // The limit is on the value: 4,000 hexadecimal digits are over 4,096 decimal ones (the
    // printer writes decimal, and what parses must print back to text that parses).
    let e = err(&format!("g.inject(0x{}n)", "f".repeat(4000)));
    assert!(e.to_string().contains("digits"), "{e}");
    let big = ok(&format!("g.inject(0x{}n)", "f".repeat(3000)));
    let printed = crate::parser::to_gremlin(&big).unwrap();
    assert_eq!(ok(&printed), big);
    // A text near the length limit made of many small tokens parses in bounded memory.
    let many = vec!["1"; 500_000].join(",");
    let b = ok(&format!("g.inject({many})"));
    assert_eq!(b.steps[0].args.len(), 500_000);
}

#[test]
fn datetimes() {
    let Value::DateTime(d) = lit("datetime('2023-08-02T00:00:00Z')") else {
        panic!("not a datetime")
    };
    assert_eq!(
        (d.epoch_seconds, d.nanos, d.offset_seconds),
        (1_690_934_400, 0, 0)
    );
    let Value::DateTime(d) = lit("datetime(\"2023-08-02\")") else {
        panic!("not a datetime")
    };
    assert_eq!((d.epoch_seconds, d.offset_seconds), (1_690_934_400, 0));
    let Value::DateTime(d) = lit("datetime('2023-08-02T10:11:12.5+01:30')") else {
        panic!("not a datetime")
    };
    assert_eq!(
        d.epoch_seconds,
        1_690_934_400 + 10 * 3600 + 11 * 60 + 12 - 5400
    );
    assert_eq!((d.nanos, d.offset_seconds), (500_000_000, 5400));
    let Value::DateTime(d) = lit("DateTime('1969-12-31T23:00-0100')") else {
        panic!("not a datetime")
    };
    assert_eq!((d.epoch_seconds, d.offset_seconds), (0, -3600));
    assert!(matches!(lit("datetime()"), Value::DateTime(d) if d.epoch_seconds > 1_600_000_000));
    let Value::DateTime(d) = lit("datetime('2023-08')") else {
        panic!("not a datetime")
    };
    assert_eq!((d.epoch_seconds, d.offset_seconds), (1_690_848_000, 0));
    let Value::DateTime(d) = lit("datetime('2023-08-02t10:00:00+013000')") else {
        panic!("not a datetime")
    };
    assert_eq!(d.offset_seconds, 5400);
    assert!(err("g.inject(datetime('2023-13'))")
        .to_string()
        .contains("ISO"));
    assert!(err("g.inject(datetime('2023-8-02'))")
        .to_string()
        .contains("ISO"));
    let e = err("g.inject(datetime('2023-02-30'))");
    assert_eq!(e.offset, 9);
    assert!(e.to_string().contains("ISO-8601"), "{e}");
    assert!(err("g.inject(datetime('2023-08-02T25:00'))")
        .to_string()
        .contains("ISO"));
}

#[test]
fn uuids() {
    let text = "6100808b-62f9-42b7-957e-ed66c30f40d1";
    assert_eq!(
        lit(&format!("UUID('{text}')")),
        Value::Uuid(Uuid::parse(text).unwrap_or(Uuid([0; 16])))
    );
    let (Value::Uuid(a), Value::Uuid(b)) = (lit("UUID()"), lit("UUID()")) else {
        panic!("not uuids")
    };
    assert_ne!(a, b);
    assert_eq!(a.0[6] >> 4, 4, "version 4");
    assert!(err("g.inject(UUID('nope'))")
        .to_string()
        .contains("not a valid UUID"));
}

#[test]
fn vertex_literal() {
    let Value::Vertex(v) = lit("new Vertex(1, 'person')") else {
        panic!("not a vertex")
    };
    assert_eq!((v.id.clone(), &*v.label), (Value::Int(1), "person"));
    assert!(matches!(lit("ReferenceVertex('a','b')"), Value::Vertex(_)));
}

// ---------------------------------------------------------------- tokens

#[test]
fn enum_tokens_short_and_qualified() {
    let cases = [
        ("T.id", EnumKind::T, "id"),
        ("id", EnumKind::T, "id"),
        ("T.label", EnumKind::T, "label"),
        ("value", EnumKind::T, "value"),
        ("Order.desc", EnumKind::Order, "desc"),
        ("desc", EnumKind::Order, "desc"),
        ("Order.incr", EnumKind::Order, "asc"),
        ("decr", EnumKind::Order, "desc"),
        ("shuffle", EnumKind::Order, "shuffle"),
        ("Direction.from", EnumKind::Direction, "OUT"),
        ("to", EnumKind::Direction, "IN"),
        ("BOTH", EnumKind::Direction, "BOTH"),
        ("Scope.local", EnumKind::Scope, "local"),
        ("global", EnumKind::Scope, "global"),
        ("Column.keys", EnumKind::Column, "keys"),
        ("values", EnumKind::Column, "values"),
        ("Pop.all", EnumKind::Pop, "all"),
        ("mixed", EnumKind::Pop, "mixed"),
        ("Operator.addAll", EnumKind::Operator, "addAll"),
        ("sumLong", EnumKind::Operator, "sumLong"),
        ("Pick.any", EnumKind::Pick, "any"),
        ("none", EnumKind::Pick, "none"),
        ("Pick.unproductive", EnumKind::Pick, "unproductive"),
        ("Merge.onCreate", EnumKind::Merge, "onCreate"),
        ("outV", EnumKind::Merge, "outV"),
        ("DT.day", EnumKind::DT, "day"),
        ("minute", EnumKind::DT, "minute"),
        ("Barrier.normSack", EnumKind::Barrier, "normSack"),
        ("normSack", EnumKind::Barrier, "normSack"),
        ("Cardinality.list", EnumKind::Cardinality, "list"),
        ("single", EnumKind::Cardinality, "single"),
        ("GType.INT", EnumKind::GType, "INT"),
        ("GType.VPROPERTY", EnumKind::GType, "VPROPERTY"),
    ];
    for (text, kind, name) in cases {
        assert_eq!(lit(text), e(kind, name), "{text}");
    }
    let e = err("g.V().order().by(Order.sideways)");
    assert_eq!(e.offset, "g.V().order().by(Order.".len());
    assert!(e.to_string().contains("a member of Order"), "{e}");
}

#[test]
fn option_constants() {
    assert_eq!(lit("WithOptions.tokens"), s("~tinkerpop.valueMap.tokens"));
    assert_eq!(lit("WithOptions.all"), Value::Int(15));
    assert_eq!(lit("WithOptions.labels"), Value::Int(2));
    assert_eq!(lit("WithOptions.indexer"), s("~tinkerpop.index.indexer"));
    assert_eq!(lit("WithOptions.map"), Value::Int(1));
    assert_eq!(lit("IO.reader"), s("~tinkerpop.io.reader"));
    assert_eq!(lit("IO.graphml"), s("graphml"));
    assert_eq!(lit("PageRank.times"), s("~tinkerpop.pageRank.times"));
    assert_eq!(
        lit("ShortestPath.maxDistance"),
        s("~tinkerpop.shortestPath.maxDistance")
    );
    let b = ok("g.V().valueMap().with(WithOptions.tokens, WithOptions.labels)");
    assert_eq!(
        b.steps[2].args,
        vec![s("~tinkerpop.valueMap.tokens"), Value::Int(2)]
    );
}

#[test]
fn cardinality_values() {
    let card_value = |card: &str, v: Value| {
        let mut b = Bytecode::default();
        b.source.push(Instruction::new(
            "CardinalityValueTraversal",
            vec![e(EnumKind::Cardinality, card), v],
        ));
        Value::Bytecode(Arc::new(b))
    };
    assert_eq!(
        lit("Cardinality.list(1)"),
        card_value("list", Value::Int(1))
    );
    assert_eq!(lit("set('a')"), card_value("set", s("a")));
    assert_eq!(
        lit("single([1])"),
        card_value("single", Value::List(vec![Value::Int(1)]))
    );
    let b = ok(
        "g.V().property(list, 'a', 1).property(Cardinality.single, 'b', 2)\
                .property([x: Cardinality.set(3)])",
    );
    assert_eq!(b.steps[1].args[0], e(EnumKind::Cardinality, "list"));
    assert_eq!(b.steps[2].args[0], e(EnumKind::Cardinality, "single"));
    let Value::Map(m) = &b.steps[3].args[0] else {
        panic!("not a map")
    };
    assert_eq!(m.get(&s("x")), Some(&card_value("set", Value::Int(3))));
    assert!(err("g.inject(list(1, 2))")
        .to_string()
        .contains("one value"));
}

// ---------------------------------------------------------------- predicates

#[test]
fn predicates() {
    assert_eq!(lit("P.gt(30)"), p("gt", vec![Value::Int(30)]));
    assert_eq!(lit("gt(30)"), p("gt", vec![Value::Int(30)]));
    assert_eq!(
        lit("P.between(1, 5)"),
        p("between", vec![Value::Int(1), Value::Int(5)])
    );
    assert_eq!(
        lit("P.typeOf(GType.INT)"),
        p("typeOf", vec![e(EnumKind::GType, "INT")])
    );
    assert_eq!(lit("TextP.containing('a')"), tp("containing", vec![s("a")]));
    assert_eq!(lit("notRegex('^a')"), tp("notRegex", vec![s("^a")]));
    let within12 = p("within", vec![Value::Int(1), Value::Int(2)]);
    assert_eq!(lit("P.within([1,2])"), within12);
    assert_eq!(lit("within(1,2)"), within12);
    assert_eq!(lit("P.within()"), p("within", vec![]));
    assert_eq!(lit("without([])"), p("without", vec![]));
    assert_eq!(lit("within(['a'])"), p("within", vec![s("a")]));
    // A list variable stays one Binding argument.
    let params = |name: &str| (name == "xx1").then(|| Value::List(vec![Value::Int(1)]));
    let b = parse("g.V().has('a', within(xx1))", &params).unwrap_or_default();
    let Value::P(pred) = &b.steps[1].args[1] else {
        panic!("not P")
    };
    assert!(matches!(pred.args.as_slice(), [Value::Binding(_)]));
}

#[test]
fn predicate_chaining() {
    let gt1 = p("gt", vec![Value::Int(1)]);
    let lt5 = p("lt", vec![Value::Int(5)]);
    let eq9 = p("eq", vec![Value::Int(9)]);
    assert_eq!(
        lit("gt(1).and(lt(5))"),
        p("and", vec![gt1.clone(), lt5.clone()])
    );
    assert_eq!(
        lit("P.gt(1).and(P.lt(5)).or(eq(9))"),
        p("or", vec![p("and", vec![gt1.clone(), lt5.clone()]), eq9])
    );
    assert_eq!(lit("gt(1).negate()"), p("lte", vec![Value::Int(1)]));
    assert_eq!(
        lit("TextP.containing('a').negate()"),
        tp("notContaining", vec![s("a")])
    );
    assert_eq!(
        lit("between(1, 2).negate()"),
        p(
            "not",
            vec![p("between", vec![Value::Int(1), Value::Int(2)])]
        )
    );
    assert!(err("g.inject(gt(1).and(2))")
        .to_string()
        .contains("one predicate"));
}

// ---------------------------------------------------------------- variables

#[test]
fn variables_become_bindings() {
    let params = |name: &str| match name {
        "vid1" => Some(Value::Int(1)),
        "xx1" => Some(s("marko")),
        _ => None,
    };
    let b = parse("g.V(vid1).has('name', xx1)", &params).unwrap_or_default();
    assert_eq!(
        b.steps[0].args,
        vec![Value::Binding(Arc::new((Arc::from("vid1"), Value::Int(1))))]
    );
    assert_eq!(
        b.steps[1].args[1],
        Value::Binding(Arc::new((Arc::from("xx1"), s("marko"))))
    );
    let e = parse("g.V(vid1).has('name', xx2)", &params).err();
    let Some(e) = e else {
        panic!("unknown variable accepted")
    };
    assert_eq!(e.kind, ParseErrorKind::UnknownVariable("xx2".into()));
    assert_eq!((e.line, e.column), (1, 23));
    assert_eq!(
        e.to_string(),
        "at 1:23: unknown variable 'xx2' (no parameter of that name)"
    );
    // The map form.
    let mut m = std::collections::HashMap::new();
    m.insert("x".to_string(), Value::Long(3));
    let b = parse_with_map("g.inject(x)", &m).unwrap_or_default();
    assert_eq!(
        b.steps[0].args,
        vec![Value::Binding(Arc::new((Arc::from("x"), Value::Long(3))))]
    );
}

// ---------------------------------------------------------------- errors

#[test]
fn error_positions_and_messages() {
    let e = err("g.V().has('a',,1)");
    assert_eq!((e.offset, e.line, e.column), (14, 1, 15));
    assert_eq!(e.to_string(), "at 1:15: expected a value but found ','");
    assert_eq!((e.expected(), e.found()), (Some("a value"), Some("','")));

    let e = err("g.V().limit(1 2)");
    assert_eq!(
        e.to_string(),
        "at 1:15: expected ',' or ')' but found number 2"
    );

    let e = err("g.V().out('a'");
    assert_eq!(
        e.to_string(),
        "at 1:14: expected ',' or ')' but found end of input"
    );

    let e = err("g.V().frobnicate()");
    assert_eq!(
        e.to_string(),
        "at 1:7: expected a step name but found 'frobnicate'"
    );

    let e = err("g.foo()");
    assert_eq!(e.column, 3);
    assert!(e.to_string().contains("start step"), "{e}");

    let e = err("x.V()");
    assert_eq!(e.to_string(), "at 1:1: expected 'g' but found 'x'");

    let e = err("g.V()\n  .out('a')\n  .has('x' 'y')");
    assert_eq!((e.line, e.column), (3, 12));

    let e = err("g.V('é', ü)");
    assert_eq!((e.line, e.column), (1, 10));
    assert_eq!(e.offset, "g.V('é', ".len());

    let e = err("g.V().map(g.V())");
    assert!(e.to_string().contains("anonymous traversal"), "{e}");

    let e = err("g.V() #");
    assert!(e.to_string().contains("unexpected character '#'"), "{e}");

    let e = err("");
    assert_eq!(e.to_string(), "at 1:1: expected 'g' but found end of input");

    let e = err("g.withSack(1)");
    assert!(e.to_string().contains("start step"), "{e}");

    let e = err("g.V().count())");
    assert_eq!(
        e.to_string(),
        "at 1:14: expected '.' or end of input but found ')'"
    );
}

#[test]
fn lambdas_are_refused() {
    for text in [
        "g.V().map{it.get()}",
        "g.V().filter({it.get().value('age') > 30})",
        "g.V().map({ x -> x.get() })",
        "g.withSack{1}.V()",
        "g.V().sideEffect({ it -> println it })",
    ] {
        let e = err(text);
        assert!(
            e.to_string().contains("lambdas"),
            "{text}: {e} should mention lambdas"
        );
    }
    let e = err("g.V().filter({it.get()})");
    assert_eq!(e.offset, "g.V().filter(".len());
    assert!(matches!(e.kind, ParseErrorKind::Unsupported(_)));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for (open, close) in [
        ("[", "]"),
        ("__.local(", ")"),
        ("{", "}"),
        ("not(", ")"),
        ("P.not(", ")"),
    ] {
        let depth = 100_000;
        let text = format!("g.inject({}1{})", open.repeat(depth), close.repeat(depth));
        let e = err(&text);
        assert_eq!(e.kind, ParseErrorKind::TooDeep, "{open}");
        assert!(e.to_string().contains(&NESTING_DEPTH_MAX.to_string()));
    }
    // Long predicate chains nest too: and(and(and(...))).
    let text = format!("g.V().is(gt(1){})", ".and(lt(9))".repeat(100_000));
    assert_eq!(err(&text).kind, ParseErrorKind::TooDeep);
    let text = format!(
        "g.V().is(gt(1){})",
        ".or(lt(9))".repeat(NESTING_DEPTH_MAX - 4)
    );
    assert!(parse(&text, &no_params).is_ok());
    // Just under the limit is fine.
    let depth = NESTING_DEPTH_MAX - 2;
    let text = format!("g.inject({}1{})", "[".repeat(depth), "]".repeat(depth));
    assert!(parse(&text, &no_params).is_ok());
}

#[test]
fn too_long_text_is_refused() {
    let text = format!("g.inject('{}')", "a".repeat(TEXT_BYTES_MAX));
    let e = err(&text);
    assert!(matches!(e.kind, ParseErrorKind::TooLong { size_bytes } if size_bytes == text.len()));
}

#[test]
fn arbitrary_bytes_never_panic() {
    // Every 1- and 2-byte prefix after `g.inject(`, and all 3-byte ASCII punctuation runs.
    let alphabet: Vec<char> = "()[]{},.:;'\"\\-+0x1eLmnNaI_g $é\n".chars().collect();
    for a in &alphabet {
        for b in &alphabet {
            for c in &alphabet {
                let text = format!("g.inject({a}{b}{c}");
                let _ = parse(&text, &no_params);
                let text = format!("{a}{b}{c}");
                let _ = parse(&text, &no_params);
            }
        }
    }
}

// ---------------------------------------------------------------- printing

#[test]
fn print_round_trips() {
    let params = |name: &str| (name == "xx1").then(|| Value::Int(7));
    for text in [
        "g.withStrategies(new SubgraphStrategy(vertices: __.has(\"name\", P.within(\"a\", \"b\"))), \
         new ReadOnlyStrategy).withoutStrategies(CountStrategy).V(xx1).out(\"knows\")",
        "g.inject(1b, 2s, 3, 4L, 5n, 1.5f, 2.5d, 1.50m, -1.5e3m, 0.001m, NaN, -Infinity, null, true)",
        "g.inject(\"a\\\"b\\n\\u0001é\", [1, [2]], [:], [a: 1, (T.id): 2, (Direction.OUT): 3], {1, 2})",
        "g.inject(datetime(\"2023-08-02T10:11:12.5+01:30\"), datetime(\"1969-12-31T23:00-01:00\"))",
        "g.inject(UUID(\"6100808b-62f9-42b7-957e-ed66c30f40d1\"), new Vertex(1, \"person\"))",
        "g.V().has(\"age\", gt(1).and(lt(5)).or(P.not(eq(3)))).has(\"n\", TextP.regex(\"^a\"))",
        "g.V().property(Cardinality.list, \"a\", Cardinality.set(1)).order().by(Order.desc)",
    ] {
        let b = parse(text, &params).unwrap_or_else(|e| panic!("{text}: {e}"));
        let printed = to_gremlin(&b).unwrap_or_else(|e| panic!("{text}: {e}"));
        let again = parse(&printed, &params).unwrap_or_else(|e| panic!("{printed}: {e}"));
        assert_eq!(again, b, "{text} printed as {printed}");
    }
    assert_eq!(
        to_gremlin(&ok("g.V(1).out('knows').values('name')"))
            .ok()
            .as_deref(),
        Some("g.V(1).out(\"knows\").values(\"name\")")
    );
    assert_eq!(
        to_gremlin(&ok(
            "g.inject(1.50m, -0.05m, 15e2m, datetime('2023-08-02'))"
        ))
        .ok()
        .as_deref(),
        Some("g.inject(1.50m, -0.05m, 15e2m, datetime(\"2023-08-02T00:00:00Z\"))")
    );
    // Extreme values print without huge allocations or overflow, and round-trip.
    let tiny = Value::BigDecimal(BigDecimal {
        unscaled: BigInt::from(-15),
        scale: i32::MAX,
    });
    let b = Bytecode::default().step("inject", vec![tiny]);
    let printed = to_gremlin(&b).unwrap_or_default();
    assert!(printed.len() < 64, "{printed}");
    assert_eq!(parse(&printed, &no_params).ok(), Some(b));
    let far = Value::DateTime(crate::value::DateTime {
        epoch_seconds: i64::MAX,
        nanos: 0,
        offset_seconds: 3600,
    });
    let b = Bytecode::default().step("inject", vec![far]);
    assert!(to_gremlin(&b).is_err());
    let edge_arg = Bytecode::default().step("inject", vec![Value::Char('x')]);
    assert_eq!(to_gremlin(&edge_arg), Err(Unprintable("Character")));
}

#[test]
fn more_error_messages() {
    let e = err("g.V().has('a', Foo.bar)");
    assert_eq!(e.column, 16);
    assert!(e.to_string().contains("token class"), "{e}");
    assert!(e.to_string().contains("found 'Foo'."), "{e}");

    let e = err("g.V().has('a', P.gt(1, 2))");
    assert_eq!(
        e.to_string(),
        "at 1:20: expected 1 argument(s) to gt(...) but found 2"
    );
    let e = err("g.V().has('a', between(1))");
    assert!(
        e.to_string().contains("expected 2 argument(s) to between"),
        "{e}"
    );

    let e = err("g.tx().commit()");
    assert!(e.to_string().contains("transactions"), "{e}");

    let e = err("g.V().limit(12345 6)");
    assert_eq!(
        e.to_string(),
        "at 1:19: expected ',' or ')' but found number 6"
    );
    let e = err("g.V().has('name' 'marko')");
    assert_eq!(
        e.to_string(),
        "at 1:18: expected ',' or ')' but found string 'marko'"
    );
    let long = "x".repeat(100);
    let e = err(&format!("g.V().{long}()"));
    assert!(e.to_string().ends_with("...'"), "{e}");
    assert!(e.to_string().len() < 120, "{e}");
}

/// xorshift64* for the generated round-trip test.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn string(&mut self) -> String {
        let pool = [
            'a', 'Z', '0', ' ', '\'', '"', '\\', '\n', '\t', '\r', '\u{0}', '\u{7f}', 'é', '€',
            '😀', '\u{2028}', '{', '}', '.', ':',
        ];
        (0..self.below(8))
            .map(|_| pool[self.below(pool.len() as u64) as usize])
            .collect()
    }

    fn value(&mut self, depth: u32) -> Value {
        let kinds = if depth > 2 { 13 } else { 18 };
        match self.below(kinds) {
            0 => Value::Int(self.next() as i32),
            1 => Value::Long(self.next() as i64),
            2 => Value::Byte(self.next() as i8),
            3 => Value::Short(self.next() as i16),
            4 => Value::BigInt(BigInt::from(self.next()) * BigInt::from(self.next()) - 7),
            5 => Value::BigDecimal(BigDecimal {
                unscaled: BigInt::from(self.next() as i64),
                scale: self.below(40) as i32 - 20,
            }),
            6 => Value::Float(f32::from_bits(self.next() as u32)),
            7 => Value::Double(f64::from_bits(self.next())),
            8 => Value::String(Arc::from(self.string())),
            9 => Value::Uuid(Uuid(
                (u128::from(self.next()) << 64 | u128::from(self.next())).to_be_bytes(),
            )),
            10 => Value::DateTime(crate::value::DateTime {
                // Years 0000..=9999, offsets within +-18h.
                epoch_seconds: self.below(315_537_897_600) as i64 - 62_167_219_200 + 86_400,
                nanos: self.below(1_000_000_000) as u32,
                offset_seconds: self.below(2 * 64_800 + 1) as i32 - 64_800,
            }),
            11 => {
                [Value::Null, Value::Bool(true), Value::Bool(false)][self.below(3) as usize].clone()
            }
            12 => e(
                EnumKind::Pop,
                ["first", "last", "all", "mixed"][self.below(4) as usize],
            ),
            13 => Value::List((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
            14 => Value::Set((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
            15 => Value::Map(
                (0..self.below(4))
                    .map(|_| (self.value(depth + 1), self.value(depth + 1)))
                    .collect(),
            ),
            // (`within` with one List argument would be flattened by the parser.)
            16 => p(
                "between",
                vec![self.value(depth + 1), self.value(depth + 1)],
            ),
            _ => anon(vec![
                ("constant", vec![self.value(depth + 1)]),
                ("fold", vec![]),
            ]),
        }
    }
}

#[test]
fn generated_values_round_trip_through_text() {
    let mut g = Gen(0x0123_4567_89AB_CDEF);
    let mut checked = 0;
    for _ in 0..5_000 {
        let v = g.value(0);
        let b = Bytecode::default().step("inject", vec![v]);
        let text = match to_gremlin(&b) {
            Ok(t) => t,
            // Non-finite Floats have no literal; nothing else may fail.
            Err(Unprintable(what)) => {
                assert_eq!(what, "non-finite Float");
                continue;
            }
        };
        let again = parse(&text, &no_params).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(again, b, "{text}");
        checked += 1;
    }
    assert!(checked > 4_000, "only {checked} values printable");
}

#[test]
fn nesting_at_the_limit_fits_a_small_stack() {
    // Parsing (and dropping) the deepest accepted input needs well under 1 MiB of stack, so
    // the parser is safe on executor threads with modest stacks.
    const STACK_BYTES: usize = 1024 * 1024;
    let worker = std::thread::Builder::new()
        .stack_size(STACK_BYTES)
        .spawn(|| {
            for (open, close) in [
                ("[", "]"),
                ("{", "}"),
                ("__.local(", ")"),
                ("not(", ")"),
                ("P.not(", ")"),
                ("[a: ", "]"),
                ("where(", ")"),
            ] {
                let mut depth = NESTING_DEPTH_MAX;
                let parsed = loop {
                    let inner = if open == "P.not(" { "eq(1)" } else { "1" };
                    let text = format!(
                        "g.inject({}{inner}{})",
                        open.repeat(depth),
                        close.repeat(depth)
                    );
                    match parse(&text, &no_params) {
                        Ok(b) => break Some(b),
                        Err(e) if e.kind == ParseErrorKind::TooDeep => depth -= 1,
                        Err(e) => panic!("{open}: {e}"),
                    }
                    if depth == 0 {
                        break None;
                    }
                };
                assert!(parsed.is_some(), "{open}");
                assert!(depth > NESTING_DEPTH_MAX / 3, "{open}: only {depth}");
            }
        });
    let joined = worker.map(|h| h.join());
    assert!(matches!(joined, Ok(Ok(()))), "worker thread failed");
}
