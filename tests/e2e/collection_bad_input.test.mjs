// RELIABILITY.md B3, JSON bodies and query language, against collections: each input gets a clear 4xx in
// Deployd's error shape (or is harmlessly ignored where Deployd ignores it), nothing is written, and the server
// stays up.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAlive, copyFixture, rawExchange, startDpd, statusOf } from './harness.mjs';

const ROOT = { 'dpd-ssh-key': 'root' };
const q = (obj) => '?' + encodeURIComponent(JSON.stringify(obj));

describe('bad input against collections', () => {
  let server;
  let seed;
  before(async () => {
    // Long query strings are allowed here so the query-language limits (not the URL limit) are what refuses.
    server = await startDpd(copyFixture('collections'), ['--limit', 'http.request_line_bytes=1048576',
      '--limit', 'http.query_string_bytes=1048576']);
    seed = await (await fetch(server.base + '/todos', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'seed', order: 1 }),
    })).json();
  });
  after(async () => { assert.equal(await server.stop(), 0); });

  const snapshot = async () => (await (await fetch(server.base + '/todos?$sort[title]=1')).text());

  async function send(method, path, body, contentType = 'application/json') {
    const headers = contentType ? { 'content-type': contentType } : {};
    const r = await fetch(server.base + path, { method, headers, body });
    return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
  }

  // [name, method, path, raw body, content type, expected status]
  const bodies = [
    ['unquoted keys', 'POST', '/todos', '{a:1}', 'application/json', 400],
    ['trailing garbage', 'POST', '/todos', '{"title":"x"}garbage', 'application/json', 400],
    ['BOM prefix', 'POST', '/todos', '\ufeff{"title":"x"}', 'application/json', 400],
    ['empty body with JSON type', 'POST', '/todos', '', 'application/json', 400],
    ['valid JSON as text/plain', 'POST', '/todos', '{"title":"x"}', 'text/plain', 400],
    ['top-level array', 'POST', '/todos', '[]', 'application/json', 400],
    ['top-level number', 'POST', '/todos', '1', 'application/json', 400],
    ['top-level string', 'POST', '/todos', '"x"', 'application/json', 400],
    ['top-level null', 'POST', '/todos', 'null', 'application/json', 400],
    ['100,000 nested [', 'POST', '/todos', '['.repeat(100000), 'application/json', 400],
    ['65 nested objects', 'POST', '/todos', '{"title":"x","people":' + '{"a":'.repeat(64) + '1' + '}'.repeat(64) + '}', 'application/json', 400],
    ['1,001 keys', 'POST', '/todos', JSON.stringify(Object.fromEntries(Array.from({ length: 1001 }, (_, i) => ['k' + i, i]))), 'application/json', 400],
    ['1e999999', 'POST', '/todos', '{"title":"x","order":1e999999}', 'application/json', 400],
    ['400-digit integer', 'POST', '/todos', '{"title":"x","order":' + '9'.repeat(400) + '}', 'application/json', 400],
    ['NaN', 'POST', '/todos', '{"title":"x","order":NaN}', 'application/json', 400],
    ['lone surrogate', 'POST', '/todos', '{"title":"\\ud800"}', 'application/json', 400],
    ['invalid UTF-8', 'POST', '/todos', Buffer.from([0x7b, 0x22, 0x74, 0x69, 0x74, 0x6c, 0x65, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), 'application/json', 400],
    ['string ← object', 'POST', '/todos', '{"title":{"a":1}}', 'application/json', 400],
    ['string ← array', 'POST', '/todos', '{"title":["x"]}', 'application/json', 400],
    ['string ← bool', 'POST', '/todos', '{"title":true}', 'application/json', 400],
    ['string ← null', 'POST', '/todos', '{"title":null}', 'application/json', 400],
    ['object ← array', 'POST', '/todos', '{"title":"x","people":[1]}', 'application/json', 400],
    ['number ← "Infinity"', 'POST', '/things', '{"code":"i","flag":true,"age":"Infinity"}', 'application/json', 400],
    ['number ← 1e400', 'POST', '/things', '{"code":"i","flag":true,"age":1e400}', 'application/json', 400],
    ['boolean ← "yes"', 'POST', '/things', '{"code":"i","flag":"yes","age":1}', 'application/json', 400],
    ['boolean ← 1', 'POST', '/things', '{"code":"i","flag":1,"age":1}', 'application/json', 400],
    ['date ← "not a date"', 'POST', '/things', '{"code":"i","flag":true,"age":1,"created":"not a date"}', 'application/json', 400],
    ['date ← 1e20', 'POST', '/things', '{"code":"i","flag":true,"age":1,"created":1e20}', 'application/json', 400],
    ['PUT with id as object, non-root', 'PUT', '/todos' + q({ id: { $ne: null } }), '{"title":"pwned"}', 'application/json', 400],
    ['DELETE with id object inside $or is not an id', 'DELETE', '/todos' + q({ $or: [{ id: { $ne: null } }] }), undefined, null, 400],
  ];

  for (const [name, method, path, body, type, status] of bodies) {
    test(`body: ${name}`, async () => {
      const before = await snapshot();
      const r = await send(method, path, body, type);
      assert.equal(r.status, status, r.text.slice(0, 200));
      if (r.type === 'application/json') assert.match(r.text, /"status":4\d\d\}$/);
      assert.equal(await snapshot(), before, 'nothing written');
      await assertAlive(server);
    });
  }

  test('body: 10 MB string → 413 before the body is read', async () => {
    const { data, closed } = await rawExchange(server.port,
      `POST /todos HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${10 * 1024 * 1024 + 12}\r\n\r\n{"title":"`);
    assert.equal(statusOf(data), 413);
    assert.ok(closed);
    await assertAlive(server);
  });

  test('body: array ← object is dropped, as Deployd sanitises', async () => {
    const r = await send('POST', '/todos', '{"title":"arr","tags":{"a":1}}');
    assert.equal(r.status, 200);
    const doc = JSON.parse(r.text);
    assert.ok(!('tags' in doc));
    await send('DELETE', `/todos/${doc.id}`);
  });

  test('mass assignment: unknown properties, id on POST, id change on PUT, $ keys, __proto__', async () => {
    const before = await snapshot();
    // $limitRecursion above script.recursion_max is refused (a 400 naming the limit, never a silent cut).
    let r = await send('POST', '/todos', JSON.stringify({ title: 'm', $limitRecursion: 1000 }));
    assert.equal(r.status, 400);
    assert.match(JSON.parse(r.text).message, /\$limitRecursion may be at most \d+ \(script\.recursion_max\)/);
    r = await send('POST', '/todos', JSON.stringify({ title: 'm', isAdmin: true, $skipEvents: true, $limitRecursion: 1, __proto__x: 1 }));
    const made = JSON.parse(r.text);
    assert.deepEqual(Object.keys(made), ['title', 'done', 'id']);
    r = await send('PUT', `/todos/${made.id}`, JSON.stringify({ id: 'ffffffffffffffff', title: 'm2' }));
    assert.equal(JSON.parse(r.text).id, made.id);
    r = await send('POST', '/todos', '{"title":"p","__proto__":{"polluted":true},"people":{"a":{"__proto__":{"x":1}},"constructor":{"prototype":{"y":1}}}}');
    assert.equal(r.status, 200);
    const p = JSON.parse(r.text);
    assert.ok(!('polluted' in p));
    await send('DELETE', `/todos/${made.id}`);
    await send('DELETE', `/todos/${p.id}`);
    assert.equal(await snapshot(), before);
  });

  const queries = [
    ['$where', { $where: 'sleep(1000)' }, 400],
    ['$function', { title: { $function: { body: 'x' } } }, 400],
    ['$expr', { $expr: { $gt: ['$a', 1] } }, 400],
    ['unknown $foo', { title: { $foo: 1 } }, 400],
    ['top-level $gt', { $gt: 1 }, 400],
    ['ReDoS pattern', { title: { $regex: '(a+)+$' } }, 200],
    ['10 KB pattern', { title: { $regex: 'a'.repeat(10240) } }, 400],
    ['invalid regex [', { title: { $regex: '[' } }, 400],
    ['$in with 1,001 items', { title: { $in: Array.from({ length: 1001 }, (_, i) => String(i)) } }, 400],
    ['$or with 65 branches', { $or: Array.from({ length: 65 }, () => ({ title: 'a' })) }, 400],
    ['$and nested 20 deep', JSON.parse('{"$and":['.repeat(20) + '{"title":"a"}' + ']}'.repeat(20)), 400],
    ['dotted path with 1,000 segments', { ['people' + '.a'.repeat(999)]: 1 }, 400],
    ['field a\'b', { "people.a'b": 1 }, 400],
    ['field a"b', { 'people.a"b': 1 }, 400],
    ['field a];--', { 'people.a];--': 1 }, 400],
    ['field a)', { 'people.a)': 1 }, 400],
    ['field json_extract', { 'people.json_extract(doc)': 1 }, 400],
    ['empty sub-field', { 'people.': 1 }, 400],
    ['10 KB name', { ['people.' + 'n'.repeat(10240)]: 1 }, 400],
    ['mixed $fields', { $fields: { title: 1, order: 0 } }, 400],
    ['$sort on a hostile name', { $sort: { "a'b": 1 } }, 400],
  ];
  for (const [name, query, status] of queries) {
    test(`query: ${name}`, async () => {
      const r = await send('GET', '/todos' + q(query), undefined, null);
      assert.equal(r.status, status, r.text.slice(0, 300));
      if (status === 400) {
        assert.equal(r.type, 'application/json');
        assert.match(r.text, /^\{"message":".+","status":400\}$/);
      }
      await assertAlive(server);
    });
  }

  test('ReDoS against a hostile value answers at once', async () => {
    await send('POST', '/todos', JSON.stringify({ title: 'a'.repeat(50) + '!' }));
    const start = Date.now();
    const r = await send('GET', '/todos' + q({ title: { $regex: '^(a+)+$' } }), undefined, null);
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.text), []);
    assert.ok(Date.now() - start < 2000);
  });

  test('paging values are clamped, never errors', async () => {
    for (const p of ['$limit=-1', '$limit=1e12', '$limit=abc', '$skip=-5', '$skip=1e18']) {
      const r = await send('GET', '/todos?' + p, undefined, null);
      assert.equal(r.status, 200, p);
    }
    assert.ok(seed.id);
  });

  test('root-only endpoints refuse a wrong key in production', async () => {
    const prod = await startDpd(copyFixture('collections'), ['-e', 'production', '--host', '127.0.0.1']);
    try {
      const r = await fetch(prod.base + '/todos/count', { headers: ROOT });
      assert.equal(r.status, 403);
    } finally {
      await prod.stop();
    }
  });
});
