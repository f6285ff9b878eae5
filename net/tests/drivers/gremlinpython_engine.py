"""gremlinpython against the server over the real engine: loads the TinkerPop modern graph
through traversal-API writes (explicit ids and properties, GraphBinary), then reads it with
GraphBinary and GraphSON 3: vertices, edges, valueMap, path, count, scripts through
Client.submit, results of every type the driver decodes (elements, properties, paths, maps with
element and list keys, lists, sets, every number width, strings, UUIDs, dates) compared to exact
values, and errors with their status codes. Usage: URL [USER PASS BADPASS]; with COREGRAPH_CA set
(a PEM file) the URL is wss:// and only that authority is trusted. Runs with gremlinpython 3.7
and 3.8."""

import datetime
import decimal
import importlib.metadata
import os
import ssl
import sys
import uuid

from gremlin_python.driver.client import Client
from gremlin_python.driver.driver_remote_connection import DriverRemoteConnection
from gremlin_python.driver.protocol import GremlinServerError
from gremlin_python.driver.serializer import GraphSONSerializersV3d0, GraphBinarySerializersV1
from gremlin_python.process.anonymous_traversal import traversal
from gremlin_python.process.graph_traversal import __
from gremlin_python.process.traversal import T
from gremlin_python.structure.graph import Property, Vertex, VertexProperty

url = sys.argv[1]
DRIVER_VERSION = tuple(int(x) for x in importlib.metadata.version("gremlinpython").split(".")[:2])
user, password, bad_password = (sys.argv[2:5] + [None, None, None])[:3]
KW = {}
if user:
    KW["username"], KW["password"] = user, password
if os.environ.get("COREGRAPH_CA"):
    ctx = ssl.create_default_context(cafile=os.environ["COREGRAPH_CA"])
    KW["ssl_options"] = ctx

PEOPLE = [(1, "marko", 29), (2, "vadas", 27), (4, "josh", 32), (6, "peter", 35)]
SOFTWARE = [(3, "lop"), (5, "ripple")]
EDGES = [(7, 1, "knows", 2, 0.5), (8, 1, "knows", 4, 1.0), (9, 1, "created", 3, 0.4),
         (10, 4, "created", 5, 1.0), (11, 4, "created", 3, 0.4), (12, 6, "created", 3, 0.2)]


def source(conn):
    """A traversal source over `conn` (`with_` since 3.8; 3.7 has `with_remote`)."""
    t = traversal()
    return t.with_(conn) if hasattr(t, "with_") else t.with_remote(conn)


def expect_error(code, f, name):
    try:
        f()
    except GremlinServerError as e:
        assert e.status_code == code, (name, code, e.status_code, str(e))
        return str(e)
    raise AssertionError(f"{name}: expected status {code}")


conn = DriverRemoteConnection(url, "g", message_serializer=GraphBinarySerializersV1(), **KW)
g = source(conn)
for vid, name, age in PEOPLE:
    g.add_v("person").property(T.id, vid).property("name", name).property("age", age).iterate()
for vid, name in SOFTWARE:
    g.add_v("software").property(T.id, vid).property("name", name).property("lang", "java").iterate()
for eid, out_v, label, in_v, weight in EDGES:
    g.V(out_v).add_e(label).to(__.V(in_v)).property(T.id, eid).property("weight", weight).iterate()
conn.close()
print("loaded")

def g_for(ser):
    return lambda: DriverRemoteConnection(url, "g", message_serializer=ser, **KW)


def same(got, want, what):
    """Equal values of the same base Python types (1 == 1.0 == True would hide a wrong kind)."""
    assert got == want, (what, got, want)
    kind = lambda xs: [type(x).__mro__[-2] for x in xs]
    assert kind(got) == kind(want), (what, kind(got))


def as_decimal(x):
    """gremlinpython 3.8 decodes BigDecimal to statics.BigDecimal, 3.7 (GraphSON) to Decimal."""
    if hasattr(x, "unscaled_value"):
        return decimal.Decimal(x.unscaled_value).scaleb(-x.scale)
    assert isinstance(x, decimal.Decimal), x
    return x


def decimal_for(ser, text):
    """The BigDecimal value the serializer's writer takes (the class differs by version)."""
    from gremlin_python.statics import BigDecimal
    from gremlin_python.structure.io import graphbinaryV1, graphsonV3d0
    mod = graphbinaryV1 if isinstance(ser, GraphBinarySerializersV1) else graphsonV3d0
    if mod.BigDecimalIO.python_type is BigDecimal:
        d = decimal.Decimal(text).as_tuple()
        unscaled = int("".join(map(str, d.digits))) * (-1 if d.sign else 1)
        return BigDecimal(-d.exponent, unscaled)
    return decimal.Decimal(text)


def check_types(name, client, connect, ser):
    run = lambda s, b=None: client.submit(s, b).all().result()
    # Every number width (gremlinpython decodes the integer widths to int, the floating ones to
    # float, BigDecimal by version, see as_decimal).
    from gremlin_python.statics import long, SingleByte
    got = run("g.inject(1b, 2s, 3i, 4l, 2.5f, 0.25d, 123456789012345678901234567890n, 1.50m)")
    want = [SingleByte(1), 2, 3, long(4), 2.5, 0.25, 123456789012345678901234567890]
    assert got[:7] == want, (name, got)
    kinds = [type(x).__mro__[-2].__name__ for x in got[:7]]
    assert kinds == ["int", "int", "int", "int", "float", "float", "int"], (name, kinds)
    # GraphSON carries the BigDecimal as a JSON number (as Java's server does): Python's json
    # reads a float, so only GraphBinary keeps the scale.
    assert as_decimal(got[7]) == decimal.Decimal("1.50"), (name, got)
    if name == "graphbinary":
        assert str(as_decimal(got[7])) == "1.50", (name, got)
    same(run("g.inject(9223372036854775807l, -2147483648i, -128b)")[1:], [-2147483648, SingleByte(-128)], name + " bounds")
    assert run("g.inject(9223372036854775807l)") == [9223372036854775807], name
    same(run("g.inject('héllo', '')"), ["héllo", ""], name + " strings")
    same(run("g.inject(UUID('41d2e28a-20a4-4ab0-b379-d810dede3786'))"),
         [uuid.UUID("41d2e28a-20a4-4ab0-b379-d810dede3786")], name + " uuid")
    # 3.8 drivers get OffsetDateTime; older ones (told apart by their User-Agent) get
    # java.util.Date, which is what they decode (net/src/legacy.rs).
    d = run("g.inject(datetime('2023-08-02T10:11:12Z'))")
    assert len(d) == 1 and isinstance(d[0], datetime.datetime), (name, d)
    want_d = datetime.datetime(2023, 8, 2, 10, 11, 12, tzinfo=datetime.timezone.utc)
    got_d = d[0] if d[0].tzinfo else d[0].replace(tzinfo=datetime.timezone.utc)
    assert got_d == want_d, (name, d)
    same(run("g.inject([1, 2], [3])"), [[1, 2], [3]], name + " lists")
    s = run("g.V(1).out('created').in('created').values('name').aggregate('x').cap('x')")
    assert len(s) == 1 and sorted(s[0]) == ["josh", "marko", "peter"], (name, s)
    s = run("g.inject({1, 2, 'x'})")
    assert s == [{1, 2, "x"}] and isinstance(s[0], set), (name, s)
    m = run("g.V().hasLabel('person').group().by('name').by('age')")
    assert m == [{"marko": [29], "vadas": [27], "josh": [32], "peter": [35]}], (name, m)
    m = run("g.V().hasLabel('software').in('created').groupCount()")
    assert len(m) == 1 and sorted((k.id, v) for k, v in m[0].items()) == [(1, 1), (4, 2), (6, 1)], (name, m)
    assert all(isinstance(k, Vertex) for k in m[0]), (name, m)
    m = run("g.V().hasLabel('person').group().by(__.out('created').values('name').fold()).by(__.count())")
    assert len(m) == 1, (name, m)
    got_lk = sorted((tuple(sorted(k)), v) for k, v in m[0].items())
    assert got_lk == [((), 1), (("lop",), 2), (("lop", "ripple"), 1)], (name, m)
    es = run("g.E(7).properties()")
    assert len(es) == 1 and isinstance(es[0], Property) and (es[0].key, es[0].value) == ("weight", 0.5), (name, es)
    vp = run("g.V(1).properties('name')")
    assert len(vp) == 1 and isinstance(vp[0], VertexProperty) and (vp[0].label, vp[0].value) == ("name", "marko"), (name, vp)
    p = run("g.V(1).outE('knows').inV().path()")
    shapes = sorted([(type(o).__name__, o.id) for o in x.objects] for x in p)
    assert shapes == [[("Vertex", 1), ("Edge", 7), ("Vertex", 2)], [("Vertex", 1), ("Edge", 8), ("Vertex", 4)]], (name, p)
    # Bytecode with typed values: the same widths sent by the driver.
    conn = connect()
    g = source(conn)
    got = g.inject(SingleByte(5), long(6), 7, 8.5, uuid.UUID(int=1), "s", decimal_for(ser, "-2.25")).to_list()
    want = [SingleByte(5), long(6), 7, 8.5, uuid.UUID(int=1), "s"]
    assert got[:6] == want, (name, got)
    kinds = [type(x).__mro__[-2].__name__ for x in got[:6]]
    assert kinds == ["int", "int", "int", "float", "UUID", "str"], (name, kinds)
    assert str(as_decimal(got[6])) == "-2.25", (name, got)
    gc = g.V(1, 4).group_count().next()
    assert sorted((k.id, v) for k, v in gc.items()) == [(1, 1), (4, 1)], (name, gc)
    added = g.V(2).add_e("likes").to(__.V(5)).property(T.id, 100).property("stars", 5).next()
    assert (added.id, added.outV.id, added.inV.id, added.label) == (100, 2, 5, "likes"), (name, added)
    assert g.E(100).values("stars").to_list() == [5], name
    g.E(100).drop().iterate()
    assert g.E().count().next() == 6, name
    conn.close()


for name, ser in [("graphbinary", GraphBinarySerializersV1()), ("graphson", GraphSONSerializersV3d0())]:
    conn = DriverRemoteConnection(url, "g", message_serializer=ser, **KW)
    g = source(conn)
    assert g.V().count().next() == 6, name
    assert g.E().count().next() == 6, name
    vs = g.V().to_list()
    assert sorted(v.id for v in vs) == [1, 2, 3, 4, 5, 6], (name, vs)
    assert {v.id: v.label for v in vs}[3] == "software", (name, vs)
    es = g.E().to_list()
    assert sorted(e.id for e in es) == list(range(7, 13)), (name, es)
    e7 = [e for e in es if e.id == 7][0]
    assert (e7.label, e7.outV.id, e7.inV.id) == ("knows", 1, 2), (name, e7)
    vm = g.V(1).value_map("name", "age").next()
    assert vm == {"name": ["marko"], "age": [29]}, (name, vm)
    knows = sorted(g.V(1).out("knows").values("name").to_list())
    assert knows == ["josh", "vadas"], (name, knows)
    p = g.V(1).out("created").path().by("name").next()
    assert list(p.objects) == ["marko", "lop"], (name, p)
    ws = sorted(g.V(4).out_e("created").values("weight").to_list())
    assert ws == [0.4, 1.0], (name, ws)
    creators = sorted(g.V(3).in_("created").values("name").to_list())
    assert creators == ["josh", "marko", "peter"], (name, creators)
    msg = expect_error(595, lambda: g.V(1).fail("stop here").iterate(), name + " fail()")
    assert "stop here" in msg, (name, msg)
    conn.close()

    bad = DriverRemoteConnection(url, "nosuchgraph", message_serializer=ser, **KW)
    expect_error(499, lambda: source(bad).V().count().next(), name + " unknown source")
    bad.close()

    client = Client(url, "g", message_serializer=ser, **KW)
    got = client.submit("g.V().has('name', 'marko').values('age')").all().result()
    assert got == [29], (name, got)
    got = client.submit("g.V().has('name', n).out('knows').count()", {"n": "marko"}).all().result()
    assert got == [2], (name, got)
    got = client.submit("g.V().hasLabel('person').values('name').toList()").all().result()
    assert sorted(got) == ["josh", "marko", "peter", "vadas"], (name, got)
    got = client.submit("g.V().hasLabel('nothing')").all().result()
    assert got == [], (name, got)
    msg = expect_error(597, lambda: client.submit("def x = 1; x + 1").all().result(), name + " groovy")
    assert "gremlin-lang" in msg, (name, msg)
    check_types(name, client, g_for(ser), ser)
    client.close()
    if bad_password:
        wrong = Client(url, "g", message_serializer=ser, **dict(KW, password=bad_password))
        expect_error(401, lambda: wrong.submit("g.V().count()").all().result(), name + " wrong password")
        wrong.close()
    print(name, "ok")
print("all ok with gremlinpython", importlib.metadata.version("gremlinpython"))
