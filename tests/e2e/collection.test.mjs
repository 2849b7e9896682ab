// The collection HTTP API of spec/deployd-1.2.md §5 against a real dpd on a real SQLite file: every status code
// and message, the update commands, both query forms and the operator allowlist, and "a refused write wrote
// nothing". Fixture: tests/fixtures/apps/collections (the spec's test-app todos + dpd's index/unique extension).
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { api, assertAlive, copyFixture, startDpd } from './harness.mjs';

const ROOT = { 'dpd-ssh-key': 'any key is root in development on loopback' };

/** One request; `body` objects are sent as JSON. Returns { status, headers, text, json }. */

const q = (obj) => '?' + encodeURIComponent(JSON.stringify(obj));

describe('collections (spec §5)', () => {
  let server;
  let app;
  before(async () => {
    app = copyFixture('collections');
    server = await startDpd(app);
  });
  after(async () => { assert.equal(await server.stop(), 0); });
  beforeEach(async () => {
    for (const c of ['todos', 'things', 'somenamespace/test', 'events']) {
      const r = await api(server, 'DELETE', `/${c}${q({ id: { $ne: null } })}`);
      assert.equal(r.status, 200);
    }
  });

  const count = async (c, query = {}) => (await api(server, 'GET', `/${c}/count${q(query)}`, undefined, ROOT)).json.count;

  describe('§5.3 POST create', () => {
    test('response: schema order, string coercion, defaulted booleans appended, id last; 200', async () => {
      const r = await api(server, 'POST', '/todos', { owner: 7, title: 'foo', unknown: 1, id: undefined });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), 'application/json');
      assert.equal(r.headers.get('cache-control'), 'no-cache, no-store, must-revalidate');
      assert.deepEqual(Object.keys(r.json), ['title', 'owner', 'done', 'id']);
      assert.equal(r.json.owner, '7');
      assert.equal(r.json.done, false);
      assert.match(r.json.id, /^[0-9a-f]{13}[89ab][0-9a-f]{2}$/);
      assert.ok(!('_id' in r.json));
      const stored = await api(server, 'GET', `/todos/${r.json.id}`);
      assert.deepEqual(stored.json, r.json);
    });

    test('validation errors (§5.8): exact messages, nothing written', async () => {
      let r = await api(server, 'POST', '/todos', { message: 'no title' });
      assert.equal(r.status, 400);
      assert.equal(r.text, '{"errors":{"title":"is required"},"status":400}');
      r = await api(server, 'POST', '/todos', { title: 'x', people: [1, 2] });
      assert.equal(r.text, '{"errors":{"people":"must be a object"},"status":400}');
      r = await api(server, 'POST', '/things', { code: 5, created: 'not a date', flag: false });
      assert.equal(r.status, 400);
      // code 5 becomes "5"; a required boolean false is "is required" (Deployd quirk, kept)
      assert.deepEqual(r.json.errors, { created: 'must be a date', flag: 'is required', age: 'is required' });
      assert.equal(await count('todos'), 0);
      assert.equal(await count('things'), 0);
    });

    test('sanitisation by type (§5.6)', async () => {
      let r = await api(server, 'POST', '/things', { code: 'a', score: '12.5abc', created: 0, flag: true, age: '3', extra: 1 });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.score, 12.5);
      assert.equal(r.json.created, '1970-01-01T00:00:00.000Z');
      assert.equal(r.json.age, 3);
      assert.ok(!('extra' in r.json));
      // booleans only from booleans: a form-encoded "true" is dropped → required → error
      r = await api(server, 'POST', '/things', 'code=b&flag=true&age=1', { 'content-type': 'application/x-www-form-urlencoded' });
      assert.equal(r.status, 400);
      assert.deepEqual(r.json.errors, { flag: 'is required' });
      // numbers from unparsable strings are null (Deployd: NaN) and so "missing"
      r = await api(server, 'POST', '/things', { code: 'c', flag: true, age: 'C' });
      assert.deepEqual(r.json.errors, { age: 'is required' });
    });

    test('POST without a parsed body; with an id it updates; a missing id is not an upsert', async () => {
      let r = await api(server, 'POST', '/todos', '{"title":"x"}', { 'content-type': 'text/plain' });
      assert.equal(r.status, 400);
      assert.equal(r.text, '{"message":"You must include an object when saving or updating.","status":400}');
      r = await api(server, 'POST', '/todos', { id: 'abcdef0123456789', title: 'x' });
      assert.equal(r.text, '{"message":"No object exists that matches that query","status":400}');
      const created = (await api(server, 'POST', '/todos', { title: 'a' })).json;
      r = await api(server, 'POST', `/todos/${created.id}`, { title: 'b' });
      assert.equal(r.status, 200);
      assert.equal(r.json.title, 'b');
      assert.equal(await count('todos'), 1);
    });

    test('unique properties (dpd extension): 400 errors.<property>, nothing written', { skip: process.env.DPD_TEST_MONGO_DOUBLE ? 'the CongoDB test double does not enforce unique indexes' : false }, async () => {
      assert.equal((await api(server, 'POST', '/things', { code: 'u', flag: true, age: 1 })).status, 200);
      const r = await api(server, 'POST', '/things', { code: 'u', flag: true, age: 2 });
      assert.equal(r.status, 400);
      assert.equal(r.text, '{"errors":{"code":"is already in use"},"status":400}');
      assert.equal(await count('things'), 1);
    });
  });

  describe('§5.2 GET', () => {
    let a; let b;
    beforeEach(async () => {
      a = (await api(server, 'POST', '/todos', { title: 'alpha', order: 2, tags: ['x', 'y'], people: { info: { name: 'n' } }, done: true })).json;
      b = (await api(server, 'POST', '/todos', { title: 'beta', order: 10, owner: 'o' })).json;
    });

    test('list, by id (path and query), 404 with statusCode, combined criteria', async () => {
      let r = await api(server, 'GET', '/todos');
      assert.deepEqual(r.json.map((t) => t.title), ['alpha', 'beta']);
      r = await api(server, 'GET', `/todos/${a.id}`);
      assert.deepEqual(r.json, a);
      r = await api(server, 'GET', `/todos?id=${b.id}`);
      // An id of digits only (4 in 10,000 ids) is typed as a number by the form query: a list lookup, as Deployd.
      if (/^\d+$/.test(b.id)) assert.deepEqual(r.json, [], r.text);
      else assert.equal(r.json.title, 'beta', r.text);
      r = await api(server, 'GET', `/todos${q({ id: b.id })}`);
      assert.equal(r.json.title, 'beta', r.text);
      r = await api(server, 'GET', '/todos/0123456789abcdef');
      assert.equal(r.status, 404);
      assert.equal(r.text, '{"message":"not found","statusCode":404,"status":404}');
      r = await api(server, 'GET', `/todos/${a.id}?done=false`);
      assert.equal(r.status, 404);
      r = await api(server, 'GET', `/todos/${a.id}?done=true`);
      assert.equal(r.json.id, a.id);
      // a numeric id (all digits in a form query) is a list lookup: [] not 404 (Deployd quirk)
      r = await api(server, 'GET', '/todos?id=123');
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, []);
      r = await api(server, 'GET', '/todos?title=nothing');
      assert.deepEqual(r.json, []);
    });

    test('query forms: pairs with typing, brackets, JSON, _jsonquery; unknown keys are not filters', async () => {
      let r = await api(server, 'GET', '/todos?order=10');
      assert.deepEqual(r.json.map((t) => t.title), ['beta']);
      r = await api(server, 'GET', '/todos?done=true');
      assert.deepEqual(r.json.map((t) => t.title), ['alpha']);
      r = await api(server, 'GET', '/todos?order[$gt]=5');
      assert.deepEqual(r.json.map((t) => t.title), ['beta']);
      r = await api(server, 'GET', `/todos${q({ order: { $lt: 5 } })}`);
      assert.deepEqual(r.json.map((t) => t.title), ['alpha']);
      r = await api(server, 'GET', `/todos?_jsonquery=${encodeURIComponent(JSON.stringify({ title: 'beta' }))}`);
      assert.deepEqual(r.json.map((t) => t.title), ['beta']);
      r = await api(server, 'GET', '/todos?arbitrary=true');
      assert.equal(r.json.length, 2);
      r = await api(server, 'GET', '/todos?people.info.name=n');
      assert.deepEqual(r.json.map((t) => t.title), ['alpha']);
      r = await api(server, 'GET', '/todos?tags=y');
      assert.deepEqual(r.json.map((t) => t.title), ['alpha']);
    });

    test('$sort/$orderby, $limit, $skip, $fields', async () => {
      await api(server, 'POST', '/todos', { title: 'gamma', order: 5 });
      let r = await api(server, 'GET', `/todos${q({ $sort: { order: -1 } })}`);
      assert.deepEqual(r.json.map((t) => t.order), [10, 5, 2]);
      r = await api(server, 'GET', `/todos${q({ $orderby: { title: 1 }, $skip: 1, $limit: 1 })}`);
      assert.deepEqual(r.json.map((t) => t.title), ['beta']);
      r = await api(server, 'GET', '/todos?$sort[order]=1&$limit=2');
      assert.deepEqual(r.json.map((t) => t.order), [2, 5]);
      r = await api(server, 'GET', `/todos${q({ $fields: { title: 1 }, $sort: { order: 1 } })}`);
      assert.deepEqual(Object.keys(r.json[0]), ['title', 'id']);
      r = await api(server, 'GET', `/todos${q({ $fields: { title: 0, tags: 0 }, order: 2 })}`);
      assert.ok(!('title' in r.json[0]) && !('tags' in r.json[0]) && r.json[0].order === 2);
      r = await api(server, 'GET', `/todos${q({ $fields: { title: 1, order: 0 } })}`);
      assert.equal(r.status, 400);
      for (const bad of ['$limit=-1', '$limit=abc', '$skip=-5', '$skip=1e18', '$limit=1e12']) {
        r = await api(server, 'GET', `/todos?${bad}`);
        assert.equal(r.status, 200, bad);
      }
    });

    test('allowed operators', async () => {
      const cases = [
        [{ title: { $in: ['alpha', 'zzz'] } }, ['alpha']],
        [{ title: { $nin: ['alpha'] } }, ['beta']],
        [{ title: { $ne: 'alpha' } }, ['beta']],
        [{ owner: { $exists: true } }, ['beta']],
        [{ title: { $regex: '^AL', $options: 'i' } }, ['alpha']],
        [{ $or: [{ title: 'beta' }, { order: 2 }] }, ['alpha', 'beta']],
        [{ $and: [{ order: { $gte: 2 } }, { order: { $lte: 2 } }] }, ['alpha']],
        [{ $nor: [{ title: 'alpha' }] }, ['beta']],
        [{ order: { $not: { $gt: 5 } } }, ['alpha']],
        [{ tags: { $all: ['y', 'x'] } }, ['alpha']],
        [{ tags: { $size: 2 } }, ['alpha']],
        [{ tags: { $elemMatch: { $eq: 'x' } } }, ['alpha']],
        [{ order: { $mod: [5, 0] } }, ['beta']],
        [{ id: { $in: [b.id] } }, ['beta']],
      ];
      for (const [query, titles] of cases) {
        const r = await api(server, 'GET', `/todos${q(query)}`);
        assert.equal(r.status, 200, JSON.stringify(query) + r.text);
        assert.deepEqual(r.json.map((t) => t.title).sort(), titles, JSON.stringify(query));
      }
    });
  });

  describe('§5.4 PUT', () => {
    test('partial update, commands, guard, id rules', async () => {
      const t = (await api(server, 'POST', '/todos', { title: 't', order: 1, tags: ['a'] })).json;
      let r = await api(server, 'PUT', `/todos/${t.id}`, { message: 'm', id: 'ignored' });
      assert.equal(r.status, 200);
      assert.equal(r.json.title, 't');
      assert.equal(r.json.message, 'm');
      assert.equal(r.json.id, t.id);
      r = await api(server, 'PUT', `/todos/${t.id}`, { order: { $inc: 2 }, tags: { $push: 'b' } });
      assert.equal(r.json.order, 3);
      assert.deepEqual(r.json.tags, ['a', 'b']);
      r = await api(server, 'PUT', `/todos/${t.id}?title=other`, { message: 'x' });
      assert.equal(r.text, '{"message":"No object exists that matches that query","status":400}');
      r = await api(server, 'PUT', '/todos', { title: 'x' });
      assert.equal(r.text, '{"message":"must provide id to update an object","status":400}');
      r = await api(server, 'PUT', `/todos${q({ id: { $ne: null } })}`, { title: 'x' });
      assert.equal(r.text, '{"message":"must provide id to update an object","status":400}');
      r = await api(server, 'PUT', `/todos/${t.id}`, { title: '' });
      assert.equal(r.text, '{"errors":{"title":"is required"},"status":400}');
      r = await api(server, 'PUT', `/todos/${t.id}`, { title: null, message: 5 });
      assert.equal(r.status, 400);
      const stored = (await api(server, 'GET', `/todos/${t.id}`)).json;
      assert.equal(stored.message, 'm', 'refused PUTs wrote nothing');
      // root PUT without an id creates
      r = await api(server, 'PUT', '/todos', { title: 'root-made' }, ROOT);
      assert.equal(r.status, 200);
      assert.equal(await count('todos'), 2);
      // setting a property to null stores null
      r = await api(server, 'PUT', `/todos/${t.id}`, { message: null });
      assert.equal(r.json.message, null);
    });

    test('update commands (§5.7)', async () => {
      const t = (await api(server, 'POST', '/todos', { title: 't', tags: ['a', 'b', 'a'], order: 8 })).json;
      const steps = [
        [{ order: { $inc: '-9' } }, (d) => assert.equal(d.order, -1)],
        [{ tags: { $addUnique: ['c', 'a'] } }, (d) => assert.deepEqual(d.tags, ['a', 'b', 'c'])],
        [{ tags: { $pull: 'b' } }, (d) => assert.deepEqual(d.tags, ['a', 'c'])],
        [{ tags: { $pushAll: ['d', 'e'] } }, (d) => assert.deepEqual(d.tags, ['a', 'c', 'd', 'e'])],
        [{ tags: { $pullAll: ['a', 'e'] } }, (d) => assert.deepEqual(d.tags, ['c', 'd'])],
        [{ title: { $set: 'ignored' } }, (d) => assert.equal(d.title, 't')],
        [{ title: { $inc: 1 } }, null],
      ];
      for (const [body, check] of steps) {
        const r = await api(server, 'PUT', `/todos/${t.id}`, body);
        if (check) { assert.equal(r.status, 200, r.text); check(r.json); } else {
          // parseFloat('t') + 1 is NaN, which counts as missing
          assert.equal(r.status, 400);
          assert.deepEqual(r.json.errors, { title: 'is required' });
        }
      }
      const n = (await api(server, 'POST', '/todos', { title: '8' })).json;
      const bad = await api(server, 'PUT', `/todos/${n.id}`, { title: { $inc: 1 } });
      assert.equal(bad.text, '{"errors":{"title":"must be a string"},"status":400}');
      // commands apply on create too (a $pushAll satisfies an array)
      const c = await api(server, 'POST', '/todos', { title: 'c', tags: { $pushAll: ['x'] }, order: { $inc: 5 } });
      assert.deepEqual(c.json.tags, ['x']);
      assert.equal(c.json.order, 5);
    });
  });

  describe('§5.5 DELETE', () => {
    test('by id, by operator query, count responses, id required', async () => {
      const a = (await api(server, 'POST', '/todos', { title: 'a' })).json;
      await api(server, 'POST', '/todos', { title: 'b' });
      await api(server, 'POST', '/todos', { title: 'c' });
      let r = await api(server, 'DELETE', '/todos');
      assert.equal(r.text, '{"message":"You must include a query with an id when deleting an object from a collection.","status":400}');
      r = await api(server, 'DELETE', `/todos/${a.id}`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { count: 1 });
      r = await api(server, 'DELETE', `/todos/${a.id}`);
      assert.deepEqual(r.json, { count: 0 });
      r = await api(server, 'DELETE', `/todos${q({ id: { $ne: null }, title: 'b' })}`);
      assert.deepEqual(r.json, { count: 1 });
      r = await api(server, 'DELETE', '/todos', { id: { $ne: null } });
      assert.deepEqual(r.json, { count: 1 });
      assert.equal(await count('todos'), 0);
    });
  });

  describe('§5.10–5.12 count, index-of, rename', () => {
    test('root only, with Deployd\'s 403 bodies', async () => {
      for (const t of ['c', 'a', 'b']) await api(server, 'POST', '/todos', { title: t });
      let r = await api(server, 'GET', '/todos/count');
      assert.equal(r.status, 403);
      assert.equal(r.text, '{"message":"Must be root to count","statusCode":403,"status":403}');
      r = await api(server, 'GET', '/todos/count?title=a', undefined, ROOT);
      assert.deepEqual(r.json, { count: 1 });
      const all = (await api(server, 'GET', `/todos${q({ $sort: { title: 1 } })}`)).json;
      r = await api(server, 'GET', `/todos/index-of/${all[1].id}`);
      assert.equal(r.text, '{"message":"Must be root to get index","statusCode":403,"status":403}');
      r = await api(server, 'GET', `/todos/index-of/${all[1].id}${q({ $sort: { title: 1 } })}`, undefined, ROOT);
      assert.deepEqual(r.json, { index: 1 });
      r = await api(server, 'GET', '/todos/index-of/nope', undefined, ROOT);
      assert.deepEqual(r.json, { index: -1 });
      // rename: Deployd let anyone rename fields, and a GET killed the server
      r = await api(server, 'GET', '/todos/rename');
      assert.equal(r.status, 403);
      r = await api(server, 'POST', '/todos/rename', { properties: { title: 'message' } });
      assert.equal(r.status, 403);
      assert.equal((await api(server, 'GET', '/todos?title=a')).json.length, 1, 'nothing renamed');
      r = await api(server, 'POST', '/todos/rename', { properties: { message: 'owner' } }, ROOT);
      assert.equal(r.status, 200);
      r = await api(server, 'POST', '/todos/rename', {}, ROOT);
      assert.equal(r.status, 400);
      await assertAlive(server);
    });
  });

  test('namespaced collections and other methods', async () => {
    let r = await api(server, 'POST', '/somenamespace/test', { name: 'n' });
    assert.equal(r.status, 200);
    r = await api(server, 'GET', '/somenamespace/test');
    assert.deepEqual(r.json.map((d) => d.name), ['n']);
    r = await api(server, 'PATCH', '/todos', { title: 'x' });
    assert.equal(r.status, 405);
    assert.equal(r.json.status, 405);
  });

  test('an untyped property is dropped from writes (Deployd quirk)', async () => {
    const r = await api(server, 'POST', '/events', { name: 'e', untyped: 5 });
    assert.deepEqual(Object.keys(r.json), ['name', 'id']);
  });

  test('writes survive a restart (acknowledged = on disk)', async () => {
    const made = (await api(server, 'POST', '/todos', { title: 'durable' })).json;
    assert.equal(await server.stop(), 0);
    server = await startDpd(app);
    const r = await api(server, 'GET', `/todos/${made.id}`);
    assert.deepEqual(r.json, made);
  });
});
