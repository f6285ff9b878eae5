"""The TinkerPop feature suite's wire leg: a long-lived gremlinpython process that sends each
request it reads on stdin through the stock driver's Client.submit and writes the answer on
stdout, one JSON object a line. Usage: URL graphbinary|graphson.

Request line:  {"graph": "modern", "gremlin": "g.V(vid1)", "bindings": {"vid1": <GraphSON 3>},
                "timeout_ms": 10000}
Answer line:   {"ok": [<GraphSON 3>, ...]}  or  {"error": "<status code>: <message>"}

The stock driver does the WebSocket I/O, the framing and the envelope; only the decoding of
values is extended here. gremlinpython folds number widths (Int32 and Int64 are both a Python
int, Float and Double both a float), turns sets and maps into Python sets and dicts (where 1 and
1.0 collide and lists cannot be keys), cannot read a Tree and flattens a BulkSet, so the reader
gets deserializers that keep the wire type (`W` values, maps as `WMap`). The answers go back
to the test as GraphSON 3 text written here from those values, which the Rust side decodes
with its own codec and judges with the conformance runner's comparator. Bindings arrive as
GraphSON 3, are read by the same reader and turned into the Python types the driver's writer
sends with the intended width (Float32 is added for `float`)."""

import base64
import datetime
import json
import sys
import uuid

from gremlin_python import statics
from gremlin_python.driver.client import Client
from gremlin_python.driver.protocol import GremlinServerError
from gremlin_python.driver.serializer import GraphBinarySerializersV1, GraphSONMessageSerializer
from gremlin_python.process import traversal
from gremlin_python.structure.graph import Edge, Path, Property, Vertex, VertexProperty
from gremlin_python.structure.io import graphbinaryV1 as gb
from gremlin_python.structure.io import graphsonV3d0 as gs
from gremlin_python.structure.io.util import SymbolUtil

GRAPHSON_V3 = b"application/vnd.gremlin-v3.0+json"
ENUMS = ["Barrier", "Cardinality", "Column", "Direction", "DT", "GType", "Merge", "Operator",
         "Order", "Pick", "Pop", "Scope", "T"]


class W:
    """A value with the wire type gremlinpython would fold away: ("int", 5), ("set", [...])."""
    __slots__ = ("tag", "v")

    def __init__(self, tag, v):
        self.tag, self.v = tag, v

    def __repr__(self):
        return f"W({self.tag}, {self.v!r})"


class WMap(dict):
    """A map with its entries in wire order (`pairs`, keys of any type); the plain-string keys
    also as a dict, so the driver's envelope code (`meta.get("aggregateTo")`) still works."""

    def __init__(self, pairs):
        super().__init__((k, v) for k, v in pairs if type(k) is str)
        self.pairs = pairs


class Float32(float):
    """A float the writer sends as a 4-byte Float (a plain float goes as Double)."""


def tagged(stock, tag):
    """A deserializer wrapping a stock one's result in W(tag, ...)."""
    class Tagged:
        @classmethod
        def objectify(cls, data, reader, nullable=True):
            v = stock.objectify(data, reader, nullable)
            return None if v is None else W(tag, v)
    return Tagged


def tagged_json(tag):
    """A GraphSON deserializer for a JSON scalar."""
    class Tagged:
        @classmethod
        def objectify(cls, v, reader):
            return W(tag, v)
    return Tagged


# --- GraphBinary deserializers -------------------------------------------------------------

class GbSet:
    @classmethod
    def objectify(cls, buff, reader, nullable=True):
        items = gb.ListIO.objectify(buff, reader, nullable)
        return None if items is None else W("set", items)


def _gb_pairs(b, r, second):
    size = gb.int32_unpack(b.read(4))
    out = []
    while size > 0:
        k = r.read_object(b)
        out.append((k, second(b, r)))
        size -= 1
    return out


class GbMap:
    @classmethod
    def objectify(cls, buff, reader, nullable=True):
        return gb.MapIO.is_null(buff, reader,
                                lambda b, r: WMap(_gb_pairs(b, r, lambda b2, r2: r2.read_object(b2))),
                                nullable)


class GbBulkSet:
    @classmethod
    def objectify(cls, buff, reader, nullable=True):
        return gb.MapIO.is_null(
            buff, reader,
            lambda b, r: W("bulkset", _gb_pairs(b, r, lambda b2, r2: gb.int64_unpack(b2.read(8)))),
            nullable)


def _gb_tree(b, r):
    return W("tree", _gb_pairs(b, r, _gb_tree))


class GbTree:
    @classmethod
    def objectify(cls, buff, reader, nullable=True):
        return gb.MapIO.is_null(buff, reader, _gb_tree, nullable)


class GbDate:
    @classmethod
    def objectify(cls, buff, reader, nullable=True):
        return gb.MapIO.is_null(buff, reader, lambda b, r: W("date", gb.int64_unpack(b.read(8))),
                                nullable)


class GbOffsetDateTime:
    """Read from the raw bytes: the stock reader reads the offset through the reader, whose
    Int32 is a W here."""

    @staticmethod
    def _read(b, r):
        year = gb.int32_unpack(b.read(4))
        month, day = b.read(1)[0], b.read(1)[0]
        nanos = gb.int64_unpack(b.read(8))
        offset = gb.int32_unpack(b.read(4))
        secs, frac = divmod(nanos, 1_000_000_000)
        hh, rest = divmod(secs, 3600)
        mm, ss = divmod(rest, 60)
        sign = "+" if offset >= 0 else "-"
        oh, om = divmod(abs(offset) // 60, 60)
        zone = "Z" if offset == 0 else f"{sign}{oh:02d}:{om:02d}"
        return W("odt", f"{year:04d}-{month:02d}-{day:02d}T{hh:02d}:{mm:02d}:{ss:02d}.{frac:09d}{zone}")

    @classmethod
    def objectify(cls, buff, reader, nullable=True):
        return gb.MapIO.is_null(buff, reader, cls._read, nullable)


def gb_enum(name):
    class Enum:
        @classmethod
        def objectify(cls, buff, reader, nullable=True):
            return gb.MapIO.is_null(buff, reader, lambda b, r: W("enum", (name, r.to_object(b))),
                                    nullable)
    return Enum


GB_READERS = {
    gb.DataType.int: tagged(gb.IntIO, "int"),
    gb.DataType.long: tagged(gb.LongIO, "long"),
    gb.DataType.short: tagged(gb.ShortIO, "short"),
    gb.DataType.byte: tagged(gb.ByteIO, "byte"),
    gb.DataType.biginteger: tagged(gb.BigIntIO, "bigint"),
    gb.DataType.float: tagged(gb.FloatIO, "float"),
    gb.DataType.double: tagged(gb.DoubleIO, "double"),
    gb.DataType.bigdecimal: tagged(gb.BigDecimalIO, "decimal"),
    gb.DataType.char: tagged(gb.CharIO, "char"),
    gb.DataType.set: GbSet,
    gb.DataType.map: GbMap,
    gb.DataType.bulkset: GbBulkSet,
    gb.DataType.tree: GbTree,
    gb.DataType.date: GbDate,
    gb.DataType.offsetdatetime: GbOffsetDateTime,
}
for _name in ENUMS:
    _dt = {"GType": "gtype", "DT": "dt"}.get(_name, _name.lower())
    if hasattr(gb.DataType, _dt):
        GB_READERS[getattr(gb.DataType, _dt)] = gb_enum(_name)


# --- GraphSON deserializers ----------------------------------------------------------------

class GsSet:
    @classmethod
    def objectify(cls, v, reader):
        return W("set", [reader.to_object(x) for x in v])


def _gs_pairs(v, reader, second):
    return [(reader.to_object(v[i]), second(v[i + 1])) for i in range(0, len(v) - 1, 2)]


class GsMap:
    @classmethod
    def objectify(cls, v, reader):
        return WMap(_gs_pairs(v, reader, reader.to_object))


class GsBulkSet:
    @classmethod
    def objectify(cls, v, reader):
        return W("bulkset", _gs_pairs(v, reader, lambda n: reader.to_object(n).v))


class GsTree:
    @classmethod
    def objectify(cls, v, reader):
        out = []
        for node in v:
            sub = node.get("value")
            sub = reader.to_object(sub) if sub is not None else W("tree", [])
            out.append((reader.to_object(node["key"]), sub))
        return W("tree", out)


def gs_enum(name):
    class Enum:
        @classmethod
        def objectify(cls, v, reader):
            return W("enum", (name, v))
    return Enum


GS_READERS = {
    "g:Int32": tagged_json("int"),
    "g:Int64": tagged_json("long"),
    "gx:Int16": tagged_json("short"),
    "gx:Byte": tagged_json("byte"),
    "gx:BigInteger": tagged_json("bigint"),
    "g:Float": tagged_json("float"),
    "g:Double": tagged_json("double"),
    "gx:BigDecimal": tagged_json("decimal"),
    "gx:Char": tagged_json("char"),
    "g:Date": tagged_json("date"),
    "g:Set": GsSet,
    "g:Map": GsMap,
    "g:BulkSet": GsBulkSet,
    "g:Tree": GsTree,
}
for _name in ENUMS:
    GS_READERS["g:" + _name] = gs_enum(_name)


# --- answers as GraphSON 3 text ------------------------------------------------------------

def typed(t, v):
    return '{"@type":"%s","@value":%s}' % (t, v)


def number_text(x):
    """A float as GraphSON writes it: shortest round-trip text, or NaN/Infinity as strings."""
    x = float(x)
    if x != x:
        return '"NaN"'
    if x in (float("inf"), float("-inf")):
        return '"Infinity"' if x > 0 else '"-Infinity"'
    return repr(x)


def decimal_text(v):
    if isinstance(v, statics.BigDecimal):
        return f"{v.unscaled_value}E-{v.scale}" if v.scale else str(v.unscaled_value)
    return json.dumps(v) if isinstance(v, (int, float)) else str(v)


def seq(items):
    return "[" + ",".join(emit(x) for x in items) + "]"


def flat_pairs(pairs, second):
    return "[" + ",".join(emit(k) + "," + second(v) for k, v in pairs) + "]"


def emit(o):
    """GraphSON 3 text of a value read by the readers above."""
    if o is None:
        return "null"
    if isinstance(o, bool):
        return "true" if o else "false"
    if isinstance(o, W):
        t, v = o.tag, o.v
        if t in ("int", "long", "short", "byte", "bigint"):
            name = {"int": "g:Int32", "long": "g:Int64", "short": "gx:Int16", "byte": "gx:Byte",
                    "bigint": "gx:BigInteger"}[t]
            return typed(name, str(int(v)))
        if t in ("float", "double"):
            return typed("g:Float" if t == "float" else "g:Double", number_text(v))
        if t == "decimal":
            return typed("gx:BigDecimal", decimal_text(v))
        if t == "char":
            return typed("gx:Char", json.dumps(v))
        if t == "date":
            return typed("g:Date", str(int(v)))
        if t == "odt":
            return typed("gx:OffsetDateTime", json.dumps(v))
        if t == "set":
            return typed("g:Set", seq(v))
        if t == "bulkset":
            return typed("g:BulkSet", flat_pairs(v, lambda n: typed("g:Int64", str(int(n)))))
        if t == "tree":
            return typed("g:Tree", "[" + ",".join(
                '{"key":%s,"value":%s}' % (emit(k), emit(s)) for k, s in v) + "]")
        if t == "enum":
            return typed("g:" + v[0], json.dumps(v[1]))
        raise ValueError(f"no GraphSON for {o!r}")
    if isinstance(o, WMap):
        return typed("g:Map", flat_pairs(o.pairs, emit))
    if isinstance(o, dict):
        return typed("g:Map", flat_pairs(list(o.items()), emit))
    if isinstance(o, str):
        return json.dumps(o)
    if isinstance(o, int):
        return typed("g:Int64", str(o))
    if isinstance(o, float):
        return typed("g:Double", number_text(o))
    if isinstance(o, list):
        return typed("g:List", seq(o))
    if isinstance(o, (set, frozenset)):
        return typed("g:Set", seq(o))
    if isinstance(o, uuid.UUID):
        return typed("g:UUID", json.dumps(str(o)))
    if isinstance(o, datetime.datetime):
        if o.tzinfo is None:
            o = o.replace(tzinfo=datetime.timezone.utc)
        return typed("gx:OffsetDateTime", json.dumps(o.isoformat()))
    if isinstance(o, datetime.timedelta):
        return typed("gx:Duration", json.dumps(f"PT{o.total_seconds()!r}S"))
    if isinstance(o, (bytes, bytearray)):
        return typed("gx:ByteBuffer", json.dumps(base64.b64encode(bytes(o)).decode()))
    if isinstance(o, Vertex):
        return typed("g:Vertex", '{"id":%s,"label":%s}' % (emit(o.id), json.dumps(o.label)))
    if isinstance(o, Edge):
        return typed("g:Edge", '{"id":%s,"label":%s,"inV":%s,"inVLabel":%s,"outV":%s,"outVLabel":%s}' % (
            emit(o.id), json.dumps(o.label), emit(o.inV.id), json.dumps(o.inV.label),
            emit(o.outV.id), json.dumps(o.outV.label)))
    if isinstance(o, VertexProperty):
        return typed("g:VertexProperty", '{"id":%s,"label":%s,"value":%s}' % (
            emit(o.id), json.dumps(o.label), emit(o.value)))
    if isinstance(o, Property):
        return typed("g:Property", '{"key":%s,"value":%s}' % (json.dumps(o.key), emit(o.value)))
    if isinstance(o, Path):
        return typed("g:Path", '{"labels":%s,"objects":%s}' % (
            typed("g:List", seq(o.labels)), typed("g:List", seq(o.objects))))
    raise ValueError(f"no GraphSON for {type(o).__name__}: {o!r}")


# --- bindings: GraphSON 3 in, the driver's Python types out --------------------------------

def enum_member(kind, name):
    cls = getattr(traversal, kind)
    for candidate in (statics_snake(name), name, name + "_", statics_snake(name) + "_"):
        if candidate in cls.__members__:
            return cls[candidate]
    raise ValueError(f"no {kind}.{name} in gremlinpython")


def statics_snake(name):
    return SymbolUtil.to_snake_case(name)


def to_py(o):
    """The Python value the driver's writer sends as `o`'s wire type."""
    if isinstance(o, W):
        t, v = o.tag, o.v
        if t == "int":
            return int(v)
        if t == "long":
            return statics.long(v)
        if t == "short":
            return statics.short(v)
        if t == "byte":
            return statics.SingleByte(v)
        if t == "bigint":
            return statics.bigint(v)
        if t == "double":
            return float(v)
        if t == "float":
            return Float32(v)
        if t == "decimal":
            return statics.bigdecimal(v) if not isinstance(v, statics.BigDecimal) else v
        if t == "char":
            return statics.SingleChar(v)
        if t == "set":
            return set(to_py(x) for x in v)
        if t == "enum":
            return enum_member(*v)
        if t == "date":
            return datetime.datetime.fromtimestamp(v / 1000.0, tz=datetime.timezone.utc)
        if t == "odt":
            return datetime.datetime.fromisoformat(v)
        raise ValueError(f"cannot bind {o!r}")
    if isinstance(o, WMap):
        return {to_py(k): to_py(v) for k, v in o.pairs}
    if isinstance(o, list):
        return [to_py(x) for x in o]
    if isinstance(o, Vertex):
        return Vertex(to_py(o.id), o.label)
    if isinstance(o, Edge):
        return Edge(to_py(o.id), Vertex(to_py(o.outV.id), o.outV.label), o.label,
                    Vertex(to_py(o.inV.id), o.inV.label))
    if isinstance(o, VertexProperty):
        return VertexProperty(to_py(o.id), o.label, to_py(o.value), None)
    return o


def main():
    url, fmt = sys.argv[1], sys.argv[2]
    if fmt == "graphbinary":
        ser = GraphBinarySerializersV1(
            reader=gb.GraphBinaryReader(deserializer_map=GB_READERS),
            writer=gb.GraphBinaryWriter(serializer_map={Float32: gb.FloatIO}))
    elif fmt == "graphson":
        gs_writer = gs.GraphSONWriter(serializer_map={Float32: gs.FloatIO})
        ser = GraphSONMessageSerializer(
            reader=gs.GraphSONReader(deserializer_map=GS_READERS),
            writer=gs_writer, version=GRAPHSON_V3)
    else:
        raise SystemExit(f"unknown format {fmt}")
    binding_reader = gs.GraphSONReader(deserializer_map=GS_READERS)
    # The GraphSON serializer sends an eval's arguments through json.dumps as they are (only
    # bytecode goes through its writer), so bindings would go as untyped JSON: elements and
    # maps with enum keys fail, numbers lose their width. They are written with the driver's
    # own GraphSON writer first, as a GraphSON user does.
    prepare = gs_writer.to_dict if fmt == "graphson" else (lambda v: v)
    client = Client(url, "g", message_serializer=ser, pool_size=1)
    print(json.dumps({"ready": fmt}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        timeout_s = req["timeout_ms"] / 1000.0 + 5.0
        try:
            bindings = {k: prepare(to_py(binding_reader.to_object(v)))
                        for k, v in req["bindings"].items()}
            options = {"aliases": {"g": req["graph"]}, "evaluationTimeout": req["timeout_ms"]}
            rs = client.submit_async(req["gremlin"], bindings or None, request_options=options)
            results = rs.result(timeout_s).all().result(timeout_s)
            answer = '{"ok":[' + ",".join(emit(x) for x in results) + "]}"
        except GremlinServerError as e:
            answer = json.dumps({"error": f"{e.status_code}: {e.status_message}"})
        except Exception as e:  # noqa: BLE001 - every failure goes back to the test as text
            answer = json.dumps({"error": f"driver: {type(e).__name__}: {e}"})
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()
    client.close()


if __name__ == "__main__":
    main()
