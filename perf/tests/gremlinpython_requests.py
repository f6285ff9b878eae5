"""Serializes fixed requests with gremlinpython 3.8's GraphBinarySerializersV1 exactly as its
driver does (DriverRemoteConnection for traversals, Client.submit for scripts) and prints one
`name hex` line per case, for perf/tests/gremlin_load.rs to compare with coregraph-perf's bytes.
The cases must match RUST_CASES in that test."""

import base64
import uuid

from gremlin_python.driver import request
from gremlin_python.driver.serializer import GraphBinarySerializersV1
from gremlin_python.process.graph_traversal import GraphTraversalSource, __
from gremlin_python.process.traversal import P
from gremlin_python.statics import long

REQUEST_ID = uuid.UUID("cb682578-9d92-4499-9ebc-5c6aa73c5397")
g = GraphTraversalSource(None, None)


def bytecode(t, source="g"):
    # What DriverRemoteConnection.submit -> Client.submit_async builds for a traversal.
    return request.RequestMessage(
        processor="traversal", op="bytecode",
        args={"gremlin": t.bytecode, "aliases": {"g": source}})


def script(text, bindings, source="g"):
    # What Client.submit(text, bindings) builds.
    args = {"gremlin": text, "aliases": {"g": source}}
    if bindings:
        args["bindings"] = bindings
    return request.RequestMessage(processor="", op="eval", args=args)


CASES = [
    ("lookup", bytecode(g.V("42").element_map())),
    ("one-hop", bytecode(g.V("42").out().id_())),
    ("two-hop", bytecode(g.V("42").out().out().dedup().count())),
    ("has-after-out", bytecode(g.V("42").out().has("age", P.gt(40)).id_())),
    ("vertex-insert", bytecode(g.add_v("person").property("name", "perf").property("age", 30))),
    ("edge-insert", bytecode(g.V("42").add_e("knows").to(__.V("7")).property("weight", 0.5))),
    ("long-ids", bytecode(g.V(long(1)).out("knows").has("age", P.gt(30)).values("name"), "gmodern")),
    ("eval-bindings", script("g.V(vid).count()", {"vid": long(7)})),
    ("eval-plain", script("g.V().count()", {})),
    # What the protocol handler sends on a 407 (driver/protocol.py, username/password).
    ("authentication", request.RequestMessage(
        "traversal", "authentication",
        {"sasl": base64.b64encode(b"".join([b"\x00", b"bench", b"\x00", b"s3cret"])).decode()})),
]

serializer = GraphBinarySerializersV1()
for name, message in CASES:
    print(name, serializer.serialize_message(REQUEST_ID, message).hex())
