"""gremlinpython against the server over the real engine: loads the TinkerPop modern graph
through traversal-API writes (explicit ids and properties, GraphBinary), then reads it with
GraphBinary and GraphSON 3: vertices, edges, valueMap, path, count, scripts through
Client.submit, and errors with their status codes. Usage: URL."""

import sys

from gremlin_python.driver.client import Client
from gremlin_python.driver.driver_remote_connection import DriverRemoteConnection
from gremlin_python.driver.protocol import GremlinServerError
from gremlin_python.driver.serializer import GraphSONSerializersV3d0, GraphBinarySerializersV1
from gremlin_python.process.anonymous_traversal import traversal
from gremlin_python.process.graph_traversal import __
from gremlin_python.process.traversal import T

url = sys.argv[1]

PEOPLE = [(1, "marko", 29), (2, "vadas", 27), (4, "josh", 32), (6, "peter", 35)]
SOFTWARE = [(3, "lop"), (5, "ripple")]
EDGES = [(7, 1, "knows", 2, 0.5), (8, 1, "knows", 4, 1.0), (9, 1, "created", 3, 0.4),
         (10, 4, "created", 5, 1.0), (11, 4, "created", 3, 0.4), (12, 6, "created", 3, 0.2)]


def expect_error(code, f, name):
    try:
        f()
    except GremlinServerError as e:
        assert e.status_code == code, (name, code, e.status_code, str(e))
        return str(e)
    raise AssertionError(f"{name}: expected status {code}")


conn = DriverRemoteConnection(url, "g", message_serializer=GraphBinarySerializersV1())
g = traversal().with_(conn)
for vid, name, age in PEOPLE:
    g.add_v("person").property(T.id, vid).property("name", name).property("age", age).iterate()
for vid, name in SOFTWARE:
    g.add_v("software").property(T.id, vid).property("name", name).property("lang", "java").iterate()
for eid, out_v, label, in_v, weight in EDGES:
    g.V(out_v).add_e(label).to(__.V(in_v)).property(T.id, eid).property("weight", weight).iterate()
conn.close()
print("loaded")

for name, ser in [("graphbinary", GraphBinarySerializersV1()), ("graphson", GraphSONSerializersV3d0())]:
    conn = DriverRemoteConnection(url, "g", message_serializer=ser)
    g = traversal().with_(conn)
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

    bad = DriverRemoteConnection(url, "nosuchgraph", message_serializer=ser)
    expect_error(499, lambda: traversal().with_(bad).V().count().next(), name + " unknown source")
    bad.close()

    client = Client(url, "g", message_serializer=ser)
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
    client.close()
    print(name, "ok")
print("all ok")
