// Event scripts on V8 (spec §6), the synchronous part: every Collection event in its order with its `this`, the
// helpers (cancel*, error*, hide, protect, changed, previous, query edits), the outcome mapping of §6.6, syntax
// errors, and a runaway script stopped without taking the server down.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { api, assertAlive, copyFixture, startDpd } from './harness.mjs';


describe('event scripts', () => {
  let server;
  // a short wall-time limit, set by name like every limit
  before(async () => { server = await startDpd(copyFixture('events'), ['--limit', 'script.wall_time_ms=300']); });
  after(async () => { assert.equal(await server.stop(), 0); });

  test('syntax errors are reported at load with file and line', () => {
    assert.match(server.stderr(), /event script: resources\/broken\/get\.js:1: SyntaxError/);
  });

  test('POST: BeforeRequest edits, Validate errors, Post adds fields, cancel with status', async () => {
    let r = await api(server, 'POST', '/todos', { title: 'before' });
    assert.equal(r.status, 200);
    assert.equal(r.json.title, 'changed-by-br');
    assert.equal(r.json.createdAt, 1234, 'a field set by a script is stored even outside the schema');
    assert.equal(r.json.owner, 'guest');
    const stored = await api(server, 'GET', `/todos/${r.json.id}`);
    assert.equal(stored.json.createdAt, 1234);
    r = await api(server, 'POST', '/todos', { title: 'x'.repeat(30), count: -1 });
    assert.equal(r.text, '{"errors":{"title":"too long","count":"must not be negative"},"status":400}');
    r = await api(server, 'POST', '/todos', { title: 'cancel me' });
    assert.equal(r.text, '{"message":"nope","statusCode":401,"status":401}');
    r = await api(server, 'POST', '/todos', { title: 'throws' });
    assert.equal(r.text, '{"message":"Cannot read properties of null (reading \'fail\')","status":400}');
    r = await api(server, 'POST', '/todos', { title: 'require' });
    assert.equal(r.text, '{"message":"require is not defined","status":400}');
    r = await api(server, 'POST', '/todos', { title: 'thrown string' });
    assert.equal(r.text, '{"message":"plain string","status":400}');
    r = await api(server, 'POST', '/todos?blocked=1', { title: 'x' });
    assert.equal(r.text, '{"message":"blocked by beforerequest","statusCode":403,"status":403}');
    r = await api(server, 'POST', '/todos', { title: 'rooted' }, { 'dpd-ssh-key': 'k' });
    assert.equal(r.json.owner, 'root');
  });

  test('GET: per-document event, hide, cancel drops list items but fails by-id; query edits', async () => {
    const skip = (await api(server, 'POST', '/todos', { title: 'skip' })).json;
    const secret = (await api(server, 'POST', '/todos', { title: 'has secret', secret: 's3' })).json;
    let r = await api(server, 'GET', '/todos');
    assert.ok(r.json.every((t) => t.viewed === true));
    assert.ok(!r.json.some((t) => t.title === 'skip'));
    const s = r.json.find((t) => t.id === secret.id);
    assert.ok(s && !('secret' in s));
    r = await api(server, 'GET', `/todos/${skip.id}`);
    assert.equal(r.text, '{"message":"skipped","status":400}');
    r = await api(server, 'GET', '/todos?limitOne=1');
    assert.equal(r.json.length, 1);
  });

  test('PUT: protect keeps the stored value, changed/previous, cancel with an object', async () => {
    const t = (await api(server, 'POST', '/todos', { title: 'p1', count: 1 })).json;
    let r = await api(server, 'PUT', `/todos/${t.id}`, { title: 'p2', owner: 'mallory' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.owner, 'guest');
    assert.equal(r.json.count, 101);
    r = await api(server, 'PUT', `/todos/${t.id}`, { title: 'put-cancel' });
    assert.equal(r.text, '{"message":"obj","statusCode":404,"status":404}');
    const stored = (await api(server, 'GET', `/todos/${t.id}`)).json;
    assert.equal(stored.title, 'p2');
    assert.equal(stored.owner, 'guest');
  });

  test('DELETE: cancel on the only match fails the request; AfterCommit runs', async () => {
    const keep = (await api(server, 'POST', '/todos', { title: 'keep' })).json;
    let r = await api(server, 'DELETE', `/todos/${keep.id}`);
    assert.equal(r.text, '{"message":"kept","statusCode":403,"status":403}');
    const gone = (await api(server, 'POST', '/todos', { title: 'gone' })).json;
    r = await api(server, 'DELETE', `/todos/${gone.id}`);
    assert.deepEqual(r.json, { count: 1 });
    await new Promise((res) => setTimeout(res, 100));
    assert.match(server.stderr(), /script file=resources\/todos\/aftercommit\.js console="aftercommit DELETE/);
  });

  test('$skipEvents: root skips every event; anyone else is ignored', async () => {
    let r = await api(server, 'POST', '/todos', { title: 'cancel me', $skipEvents: true });
    assert.equal(r.status, 401, 'non-root: events still run');
    r = await api(server, 'POST', '/todos', { title: 'cancel me', $skipEvents: true }, { 'dpd-ssh-key': 'k' });
    assert.equal(r.status, 200);
    assert.ok(!('createdAt' in r.json));
    const skip = (await api(server, 'POST', '/todos', { title: 'skip' })).json;
    r = await api(server, 'GET', `/todos/${skip.id}?$skipEvents=true`, undefined, { 'dpd-ssh-key': 'k' });
    assert.equal(r.status, 200);
    assert.ok(!('viewed' in r.json));
    r = await api(server, 'GET', `/todos/${skip.id}?$skipEvents=true`);
    assert.equal(r.status, 400);
  });

  test('cancelIf/cancelUnless, errorIf/errorUnless/hasErrors, hide/unhide, protect/unprotect, changed, data', async () => {
    let r = await api(server, 'POST', '/helpers', { flag: true });
    assert.equal(r.text, '{"errors":{"name":"is required by errorUnless","flag":"set","both":"hasErrors saw the first"},"status":400}');
    r = await api(server, 'POST', '/helpers', { name: 'n', mode: 'cancelIf' });
    assert.equal(r.text, '{"message":"cancelIf fired","statusCode":409,"status":409}');
    r = await api(server, 'POST', '/helpers', { name: 'n', mode: 'cancelUnless' });
    assert.equal(r.text, '{"message":"cancelUnless fired","statusCode":410,"status":410}');
    r = await api(server, 'POST', '/helpers', { name: 'n', secretA: 'a', secretB: 'b', locked: 'L' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.hadErrors, false);
    assert.equal(r.json.dataIsCopy, true);
    assert.equal(r.json.name, 'n', '`data` is a copy');
    assert.equal(r.json.locked, 'L', 'unprotect() undoes protect()');
    assert.equal(r.json.changedName, true, 'on POST every present field counts as changed');
    const id = r.json.id;
    r = await api(server, 'GET', `/helpers/${id}`);
    assert.ok(!('secretA' in r.json), 'hide()');
    assert.equal(r.json.secretB, 'b', 'unhide()');
    r = await api(server, 'PUT', `/helpers/${id}`, { name: 'm', locked: 'X' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.locked, 'L', 'protect() keeps the stored value');
    assert.equal(r.json.nameChanged, true);
    assert.equal(r.json.lockedChanged, true);
    assert.equal(r.json.lockedChangedAfter, false);
    assert.equal(r.json.prevName, 'n');
    r = await api(server, 'GET', `/helpers/${id}`);
    assert.equal(r.json.locked, 'L');
    assert.equal(r.json.name, 'm');
  });

  test('a syntax error answers 400 at request time; events that are fine still run', async () => {
    const r = await api(server, 'POST', '/broken', { name: 'n' });
    assert.equal(r.status, 200);
    const g = await api(server, 'GET', '/broken');
    assert.equal(g.status, 400);
    assert.match(g.json.message, /SyntaxError/);
  });

  test('a script that runs past its time is stopped (500, named) and the server serves the next request', async () => {
    await api(server, 'POST', '/slow', { name: 'n' });
    const r = await api(server, 'GET', '/slow');
    assert.equal(r.status, 500);
    assert.equal(r.json.message, 'resources/slow/get.js: script timeout');
    await assertAlive(server);
    assert.equal((await api(server, 'GET', '/todos')).status, 200);
  });

  test('a script that eats its heap is stopped (500, named) and the server serves the next request', async () => {
    // Its own server with a wall-time limit it cannot reach first: on a loaded machine 300 ms were sometimes too
    // few to allocate the 64 MiB, and the time limit stopped it instead (a race, not what this test is about).
    const roomy = await startDpd(copyFixture('events'), ['--limit', 'script.wall_time_ms=10000']);
    try {
      await api(roomy, 'POST', '/hog', { name: 'n' });
      const h = await api(roomy, 'GET', '/hog');
      assert.equal(h.status, 500);
      assert.equal(h.json.message, 'resources/hog/get.js: script ran out of memory');
      await assertAlive(roomy);
      assert.equal((await api(roomy, 'GET', '/todos')).status, 200);
    } finally {
      assert.equal(await roomy.stop(), 0);
    }
  });
});
