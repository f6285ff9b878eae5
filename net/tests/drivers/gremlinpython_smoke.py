"""gremlinpython against the net test server (tests/common TestService): bytecode through
the traversal API and scripts through Client.submit, GraphBinary and GraphSON 3, batching,
errors with status codes, and SASL PLAIN authentication. Usage: URL [USER PASSWORD]."""

import sys

from gremlin_python.driver.client import Client
from gremlin_python.driver.driver_remote_connection import DriverRemoteConnection
from gremlin_python.driver.protocol import GremlinServerError
from gremlin_python.driver.serializer import GraphSONSerializersV3d0, GraphBinarySerializersV1
from gremlin_python.process.anonymous_traversal import traversal

url = sys.argv[1]
auth = {}
if len(sys.argv) == 4:
    auth = {"username": sys.argv[2], "password": sys.argv[3]}

for name, ser in [("graphbinary", GraphBinarySerializersV1()), ("graphson", GraphSONSerializersV3d0())]:
    conn = DriverRemoteConnection(url, "g", message_serializer=ser, **auth)
    g = traversal().with_(conn)
    # The test service answers bytecode with the step names, one traverser each.
    got = g.V().out().count().to_list()
    assert got == ["V", "out", "count"], (name, got)
    conn.close()

    client = Client(url, "g", message_serializer=ser, **auth)
    got = client.submit("range 130").all().result()
    assert got == list(range(130)), (name, len(got))
    got = client.submit("empty").all().result()
    assert got == [], (name, got)
    try:
        client.submit("fail").all().result()
        raise AssertionError("expected an error")
    except GremlinServerError as e:
        assert e.status_code == 597 and "boom" in str(e), (name, e)
    if auth:
        got = client.submit("user").all().result()
        assert got == [auth["username"]], (name, got)
    client.close()
    print(name, "ok")

if auth:
    bad = Client(url, "g", username=auth["username"], password="wrong")
    try:
        bad.submit("range 1").all().result()
        raise AssertionError("expected 401")
    except GremlinServerError as e:
        assert e.status_code == 401, e
    bad.close()
    print("wrong password ok")
print("all ok")
