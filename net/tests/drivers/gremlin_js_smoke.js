// gremlin-javascript 3.8 against the net test server (tests/common TestService): bytecode
// through the traversal API, scripts through Client.submit with several requests multiplexed
// on one connection, errors with status codes, SASL PLAIN. Usage: node this.js URL [USER PASS].
// NODE_PATH must reach the `gremlin` package.

const gremlin = require('gremlin');
const assert = require('assert');

const [url, user, pass] = process.argv.slice(2);
const opts = {};
if (user) {
  opts.authenticator = new gremlin.driver.auth.PlainTextSaslAuthenticator(user, pass);
}

async function main() {
  const conn = new gremlin.driver.DriverRemoteConnection(url, { traversalSource: 'g', ...opts });
  const g = gremlin.process.AnonymousTraversalSource.traversal().with_(conn);
  const steps = await g.V().out().count().toList();
  assert.deepStrictEqual(steps, ['V', 'out', 'count']);
  await conn.close();

  const client = new gremlin.driver.Client(url, { traversalSource: 'g', ...opts });
  // Multiplexed on one connection; the slow one is answered last.
  const [slow, big, empty] = await Promise.all([
    client.submit('sleep 200'),
    client.submit('range 200'),
    client.submit('empty'),
  ]);
  assert.deepStrictEqual(slow.toArray(), [1]);
  assert.strictEqual(big.length, 200);
  assert.deepStrictEqual(big.toArray().slice(0, 3), [0, 1, 2]);
  assert.strictEqual(empty.length, 0);
  try {
    await client.submit('fail');
    assert.fail('expected an error');
  } catch (e) {
    assert.strictEqual(e.statusCode, 597, String(e));
    assert.ok(String(e.message).includes('boom'), String(e));
  }
  if (user) {
    const who = await client.submit('user');
    assert.deepStrictEqual(who.toArray(), [user]);
  }
  await client.close();
  console.log('all ok');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
