// gremlin-javascript 3.8 against the server over the real engine: loads the TinkerPop modern
// graph through traversal-API writes (explicit ids, GraphBinary), then with GraphBinary and
// GraphSON 3 reads it back through bytecode and Client.submit scripts, checks result types
// (elements, properties, paths, maps, lists, sets, numbers, strings, UUIDs, dates) against exact
// values and errors with their status codes. Usage: node this.js URL [USER PASS [BADPASS]];
// with COREGRAPH_CA set (a PEM file) the URL is wss:// and only that authority is trusted.
// NODE_PATH must reach the `gremlin` package.

const gremlin = require('gremlin');
const assert = require('assert');

const [url, user, pass, badPass] = process.argv.slice(2);
const { t: T } = gremlin.process;
const __ = gremlin.process.statics;
const { DriverRemoteConnection, Client } = gremlin.driver;

const GRAPHBINARY = 'application/vnd.graphbinary-v1.0';
const GRAPHSON = 'application/vnd.gremlin-v3.0+json';

const PEOPLE = [[1, 'marko', 29], [2, 'vadas', 27], [4, 'josh', 32], [6, 'peter', 35]];
const SOFTWARE = [[3, 'lop'], [5, 'ripple']];
const EDGES = [[7, 1, 'knows', 2, 0.5], [8, 1, 'knows', 4, 1.0], [9, 1, 'created', 3, 0.4],
  [10, 4, 'created', 5, 1.0], [11, 4, 'created', 3, 0.4], [12, 6, 'created', 3, 0.2]];

function options(mimeType, password) {
  const o = { traversalSource: 'g', mimeType };
  if (process.env.COREGRAPH_CA) {
    // TLS: trust only the test's certificate authority.
    o.ca = [require('fs').readFileSync(process.env.COREGRAPH_CA)];
    o.rejectUnauthorized = true;
  }
  if (user) {
    o.authenticator = new gremlin.driver.auth.PlainTextSaslAuthenticator(user, password || pass);
  }
  return o;
}

async function expectError(code, f, name) {
  try {
    await f();
  } catch (e) {
    assert.strictEqual(e.statusCode, code, `${name}: ${e}`);
    return String(e.message);
  }
  assert.fail(`${name}: expected status ${code}`);
}

const byId = (a, b) => a.id - b.id;

async function load() {
  const conn = new DriverRemoteConnection(url, options(GRAPHBINARY));
  const g = gremlin.process.AnonymousTraversalSource.traversal().with_(conn);
  for (const [id, name, age] of PEOPLE) {
    await g.addV('person').property(T.id, id).property('name', name).property('age', age).iterate();
  }
  for (const [id, name] of SOFTWARE) {
    await g.addV('software').property(T.id, id).property('name', name).property('lang', 'java').iterate();
  }
  for (const [id, out, label, inV, w] of EDGES) {
    // JavaScript's 1.0 is the integer 1 and goes out as Int (the drivers cannot say Double).
    await g.V(out).addE(label).to(__.V(inV)).property(T.id, id).property('weight', w).iterate();
  }
  await conn.close();
}

async function reads(name, mimeType) {
  const conn = new DriverRemoteConnection(url, options(mimeType));
  const g = gremlin.process.AnonymousTraversalSource.traversal().with_(conn);
  assert.strictEqual(await g.V().count().next().then((r) => r.value), 6, name);
  assert.strictEqual(await g.E().count().next().then((r) => r.value), 6, name);
  const vs = (await g.V().toList()).sort(byId);
  assert.deepStrictEqual(vs.map((v) => [v.id, v.label]),
    [[1, 'person'], [2, 'person'], [3, 'software'], [4, 'person'], [5, 'software'], [6, 'person']], name);
  assert.ok(vs[0] instanceof gremlin.structure.Vertex, name);
  const es = (await g.E().toList()).sort(byId);
  assert.deepStrictEqual(es.map((e) => [e.id, e.outV.id, e.label, e.inV.id]),
    EDGES.map(([id, o, l, i]) => [id, o, l, i]), name);
  assert.ok(es[0] instanceof gremlin.structure.Edge, name);
  const vm = (await g.V(1).valueMap('name', 'age').next()).value;
  assert.deepStrictEqual(vm, new Map([['name', ['marko']], ['age', [29]]]), name);
  const knows = (await g.V(1).out('knows').values('name').toList()).sort();
  assert.deepStrictEqual(knows, ['josh', 'vadas'], name);
  const p = (await g.V(1).out('created').path().by('name').next()).value;
  assert.ok(p instanceof gremlin.structure.Path, name);
  assert.deepStrictEqual(p.objects, ['marko', 'lop'], name);
  const pv = (await g.V(1).outE('knows').inV().path().toList())
    .map((x) => x.objects.map((o) => [o.constructor.name, o.id])).sort();
  assert.deepStrictEqual(pv, [
    [['Vertex', 1], ['Edge', 7], ['Vertex', 2]],
    [['Vertex', 1], ['Edge', 8], ['Vertex', 4]],
  ], name);
  const ws = (await g.V(4).outE('created').values('weight').toList()).sort();
  assert.deepStrictEqual(ws, [0.4, 1.0], name);
  const props = (await g.E(7).properties().toList());
  assert.strictEqual(props.length, 1, name);
  assert.ok(props[0] instanceof gremlin.structure.Property, name);
  assert.deepStrictEqual([props[0].key, props[0].value], ['weight', 0.5], name);
  const vps = (await g.V(1).properties('name').toList());
  assert.ok(vps[0] instanceof gremlin.structure.VertexProperty, name);
  assert.deepStrictEqual([vps[0].label, vps[0].value], ['name', 'marko'], name);
  // groupCount by element: vertex keys.
  const gc = (await g.V().hasLabel('software').groupCount().by(__.in_('created').count()).next()).value;
  assert.deepStrictEqual(gc, new Map([[3, 1], [1, 1]]), name);
  const byV = (await g.V(1, 4).groupCount().next()).value;
  assert.deepStrictEqual([...byV.entries()].map(([k, v]) => [k.id, v]).sort(), [[1, 1], [4, 1]], name);
  // Typed values sent in bytecode come back as sent.
  const when = new Date(Date.UTC(2021, 0, 2, 3, 4, 5));
  const back = await g.inject(7, 2.5, 'text', when, true).toList();
  assert.deepStrictEqual(back.slice(0, 3), [7, 2.5, 'text'], name);
  assert.ok(back[3] instanceof Date && back[3].getTime() === when.getTime(), `${name}: ${back[3]}`);
  assert.strictEqual(back[4], true, name);
  if (mimeType === GRAPHBINARY) {
    assert.deepStrictEqual(await g.inject(123456789012345678901234567890n).toList(),
      [123456789012345678901234567890n], name);
  }
  // Writes through bytecode: an edge added and dropped again.
  const added = (await g.V(2).addE('knows').to(__.V(6)).property(T.id, 99).next()).value;
  assert.deepStrictEqual([added.id, added.outV.id, added.inV.id, added.label], [99, 2, 6, 'knows'], name);
  assert.strictEqual((await g.E().count().next()).value, 7, name);
  await g.E(99).drop().iterate();
  assert.strictEqual((await g.E().count().next()).value, 6, name);
  const msg = await expectError(595, () => g.V(1).fail('stop here').iterate(), `${name} fail()`);
  assert.ok(msg.includes('stop here'), msg);
  await conn.close();

  const bad = new DriverRemoteConnection(url, { ...options(mimeType), traversalSource: 'nosuchgraph' });
  await expectError(499, () => gremlin.process.AnonymousTraversalSource.traversal().with_(bad).V().count().next(),
    `${name} unknown source`);
  await bad.close();
}

async function scripts(name, mimeType) {
  const client = new Client(url, options(mimeType));
  const all = async (s, b) => (await client.submit(s, b)).toArray();
  assert.deepStrictEqual(await all("g.V().has('name', 'marko').values('age')"), [29], name);
  assert.deepStrictEqual(await all("g.V().has('name', n).out('knows').count()", { n: 'marko' }), [2], name);
  assert.deepStrictEqual((await all("g.V().hasLabel('person').values('name').toList()")).sort(),
    ['josh', 'marko', 'peter', 'vadas'], name);
  assert.deepStrictEqual(await all("g.V().hasLabel('nothing')"), [], name);
  // Several requests multiplexed on one connection.
  const many = await Promise.all([1, 2, 4, 6].map((id) => all('g.V(x).values(\'name\')', { x: id })));
  assert.deepStrictEqual(many, [['marko'], ['vadas'], ['josh'], ['peter']], name);
  // Numbers of every width, strings, UUIDs, dates, lists, sets, maps with list keys.
  assert.deepStrictEqual(await all('g.inject(1b, 2s, 3i, 4l, 2.5f, 0.25d, -7)'), [1, 2, 3, 4, 2.5, 0.25, -7], name);
  const big = await all('g.inject(123456789012345678901234567890n)');
  if (mimeType === GRAPHBINARY) {
    assert.deepStrictEqual(big, [123456789012345678901234567890n], name);
  } else {
    // GraphSON 3 BigInteger is a JSON number; JavaScript reads it as a double.
    assert.deepStrictEqual(big, [123456789012345678901234567890], name);
  }
  // Longs inside JavaScript's safe integer range arrive exact (the driver makes Numbers of them).
  assert.deepStrictEqual(await all('g.inject(-9007199254740991l, 9007199254740991l)'),
    [-9007199254740991, 9007199254740991], name);
  assert.deepStrictEqual(await all("g.inject('héllo', '')"), ['héllo', ''], name);
  const u = await all("g.inject(UUID('41d2e28a-20a4-4ab0-b379-d810dede3786'))");
  assert.deepStrictEqual(u, ['41d2e28a-20a4-4ab0-b379-d810dede3786'], name);
  const d = await all("g.inject(datetime('2023-08-02T10:11:12Z'))");
  assert.ok(d[0] instanceof Date, `${name}: ${d[0]}`);
  assert.strictEqual(d[0].getTime(), Date.UTC(2023, 7, 2, 10, 11, 12), name);
  assert.deepStrictEqual(await all('g.inject([1, 2], [3])'), [[1, 2], [3]], name);
  assert.deepStrictEqual(await all("g.V(1).out('knows').values('age').fold()"), [[27, 32]].map((x) => x), name);
  const sets = await all("g.V(1).out('created').in('created').values('name').aggregate('x').cap('x')");
  assert.strictEqual(sets.length, 1, name);
  assert.deepStrictEqual([...sets[0]].sort(), ['josh', 'marko', 'peter'], name);
  const ageSet = await all("g.V().hasLabel('person').values('age').order().fold().map(__.unfold().dedup().fold())");
  assert.deepStrictEqual(ageSet, [[27, 29, 32, 35]], name);
  const set = await all("g.inject({1, 2, 'x'})");
  assert.ok(set[0] instanceof Set, `${name}: ${set[0]}`);
  assert.deepStrictEqual([...set[0]].map(String).sort(), ['1', '2', 'x'], name);
  const m = await all("g.V().hasLabel('person').group().by('name').by('age')");
  assert.deepStrictEqual(m, [new Map([['marko', [29]], ['vadas', [27]], ['josh', [32]], ['peter', [35]]])], name);
  const listKeys = await all("g.V().hasLabel('person').group().by(__.out('created').values('name').fold()).by(__.count())");
  assert.strictEqual(listKeys.length, 1, name);
  const lk = [...listKeys[0].entries()].map(([k, v]) => [JSON.stringify([...k].sort()), v]).sort();
  assert.deepStrictEqual(lk, [['["lop","ripple"]', 1], ['["lop"]', 2], ['[]', 1]], name);
  const gcV = await all("g.V().hasLabel('software').in('created').groupCount()");
  assert.deepStrictEqual([...gcV[0].entries()].map(([k, v]) => [k.id, v]).sort(), [[1, 1], [4, 2], [6, 1]], name);
  // Writes through scripts.
  const e = await all("g.V(2).addE('likes').to(__.V(5)).property(T.id, 100).property('stars', 5)");
  assert.deepStrictEqual([e[0].id, e[0].outV.id, e[0].inV.id, e[0].label], [100, 2, 5, 'likes'], name);
  assert.deepStrictEqual(await all("g.E(100).values('stars')"), [5], name);
  assert.deepStrictEqual(await all('g.E(100).drop()'), [], name);
  assert.deepStrictEqual(await all('g.E(100).count()'), [0], name);
  let msg = await expectError(597, () => client.submit('def x = 1; x + 1'), `${name} groovy`);
  assert.ok(msg.includes('gremlin-lang'), msg);
  msg = await expectError(597, () => client.submit('g.V(('), `${name} syntax error`);
  await client.close();
}

async function auth(mimeType) {
  if (!badPass) return;
  const client = new Client(url, options(mimeType, badPass));
  await expectError(401, () => client.submit('g.V().count()'), 'wrong password');
  await client.close().catch(() => {});
}

async function main() {
  await load();
  console.log('loaded');
  for (const [name, mime] of [['graphbinary', GRAPHBINARY], ['graphson', GRAPHSON]]) {
    await reads(name, mime);
    await scripts(name, mime);
    await auth(mime);
    console.log(name, 'ok');
  }
  console.log('all ok');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
