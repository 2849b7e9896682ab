// /__resources, Deployd's config API (spec §4.3; issue #14 items 1, 2 and 5): every row with its exact body, the
// changes live on the next request, and bad input (names that escape, files that are not the resource's, oversized
// scripts, configs that would not load, non-root callers) refused with nothing changed on disk.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { api, assertAlive, get, startDpd, tempDir } from './harness.mjs';

const KEY = 'a'.repeat(64);
const ROOT = { 'dpd-ssh-key': KEY };

function makeApp() {
  const dir = path.join(tempDir(), 'app');
  fs.mkdirSync(path.join(dir, 'resources', 'todos'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'resources', 'users'));
  fs.mkdirSync(path.join(dir, '.dpd'));
  fs.writeFileSync(path.join(dir, 'app.dpd'), '{}');
  fs.writeFileSync(path.join(dir, '.dpd', 'keys.json'), JSON.stringify({ [KEY]: true }));
  fs.writeFileSync(path.join(dir, 'resources', 'todos', 'config.json'),
    JSON.stringify({ type: 'Collection', properties: { title: { type: 'string', id: 'title', name: 'title', order: 0 } } }));
  fs.writeFileSync(path.join(dir, 'resources', 'todos', 'get.js'), 'this.x = 1;\n');
  fs.writeFileSync(path.join(dir, 'resources', 'users', 'config.json'), JSON.stringify({ type: 'UserCollection' }));
  return dir;
}

// Every file below resources/ with its content: "nothing changed on disk" is an equal snapshot.
function snapshot(dir) {
  const out = {};
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = e.isSymbolicLink() ? `-> ${fs.readlinkSync(p)}` : fs.readFileSync(p, 'utf8');
    }
  };
  walk(path.join(dir, 'resources'));
  return out;
}

describe('/__resources', () => {
  let dir;
  let server;
  before(async () => {
    dir = makeApp();
    server = await startDpd(dir, ['-e', 'production']);
  });
  after(async () => { assert.equal(await server.stop(), 0); });

  test('non-root callers are refused with Deployd\'s body', async () => {
    for (const [method, p, body] of [['GET', '/__resources'], ['GET', '/__resources/todos'],
      ['POST', '/__resources/x', { type: 'Collection' }], ['DELETE', '/__resources/todos']]) {
      for (const headers of [{}, { 'dpd-ssh-key': 'wrong' }]) {
        const r = await api(server, method, p, body, headers);
        assert.equal(r.status, 401, `${method} ${p}`);
        assert.equal(r.text, '{"statusCode":401,"message":"Not Allowed","status":401}');
      }
    }
    assert.ok(!fs.existsSync(path.join(dir, 'resources', 'x')));
  });

  test('reads: the list, the types, one config, one file', async () => {
    const list = await api(server, 'GET', '/__resources', undefined, ROOT);
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.map((r) => r.id).sort(), ['todos', 'users']);
    assert.deepEqual(list.json.find((r) => r.id === 'todos'),
      { type: 'Collection', properties: { title: { type: 'string', id: 'title', name: 'title', order: 0 } }, id: 'todos' });
    assert.equal((await api(server, 'GET', '/__resources/types', undefined, ROOT)).text,
      '{"Collection":{"type":"Collection","defaultPath":"/my-objects","dashboardPages":["Properties","Data","Events","Rules","API"]},' +
      '"UserCollection":{"type":"UserCollection","defaultPath":"/users","label":"Users Collection","dashboardPages":["Properties","Data","Events","Rules","API"]}}');
    assert.equal((await api(server, 'GET', '/__resources/users', undefined, ROOT)).text, '{"type":"UserCollection","id":"users"}');
    assert.equal((await api(server, 'GET', '/__resources/todos/get.js', undefined, ROOT)).text, '{"value":"this.x = 1;\\n"}');
    const cfg = await api(server, 'GET', '/__resources/todos/config.json', undefined, ROOT);
    assert.equal(cfg.json.id, 'todos/config.json');
    for (const p of ['/__resources/nope', '/__resources/todos/nope.js', '/__resources/todos/post.js']) {
      const r = await api(server, 'GET', p, undefined, ROOT);
      assert.equal(r.status, 404, p);
      assert.equal(r.text, '{"message":"resource not found","status":404}');
    }
  });

  test('create, merge, $setAll, scripts, rename and delete — each live at once', async () => {
    let r = await api(server, 'POST', '/__resources/notes', { type: 'Collection' }, ROOT);
    assert.equal(r.text, '{"type":"Collection","id":"notes"}');
    assert.equal(fs.readFileSync(path.join(dir, 'resources', 'notes', 'config.json'), 'utf8'), '{\n\t"type": "Collection"\n}');
    assert.equal((await api(server, 'GET', '/notes')).text, '[]', 'served at once');
    assert.match(await (await get(server, '/dpd.js')).text(), /dpd\._resource\("notes", "\/notes", false, true\)/);

    r = await api(server, 'PUT', '/__resources/notes', { properties: { text: { type: 'string' } } }, ROOT);
    assert.equal(r.text, '{"properties":{"text":{"type":"string"}},"id":"notes"}');
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'resources', 'notes', 'config.json'), 'utf8')),
      { type: 'Collection', properties: { text: { type: 'string' } } }, 'merged into the config');
    assert.equal((await api(server, 'POST', '/notes', { text: 'kept', other: 1 })).json.other, undefined, 'new schema');

    r = await api(server, 'PUT', '/__resources/notes', { $setAll: true, type: 'Collection', properties: { text: { type: 'string' } }, x: 1 }, ROOT);
    assert.equal(r.text, '{"type":"Collection","properties":{"text":{"type":"string"}},"x":1,"id":"notes"}');

    r = await api(server, 'POST', '/__resources/notes/post.js', { value: 'this.stamped = true;' }, ROOT);
    assert.equal(r.text, '{"value":"this.stamped = true;","id":"notes"}');
    assert.equal((await api(server, 'POST', '/notes', { text: 'b' })).json.stamped, true, 'the script runs at once');
    assert.equal((await api(server, 'GET', '/__resources/notes/post.js', undefined, ROOT)).json.value, 'this.stamped = true;');

    r = await api(server, 'POST', '/__resources', { type: 'Collection' }, ROOT);
    assert.equal(r.status, 400);
    assert.equal(r.text, '{"statusCode":400,"message":"You must provide a resource","status":400}');

    // Rename: the folder moves, and the documents with it.
    r = await api(server, 'PUT', '/__resources/notes', { id: 'memos' }, ROOT);
    assert.equal(r.text, '{"id":"memos"}');
    assert.ok(!fs.existsSync(path.join(dir, 'resources', 'notes')));
    assert.ok(fs.existsSync(path.join(dir, 'resources', 'memos', 'post.js')));
    assert.equal((await api(server, 'GET', '/notes')).status, 404);
    const memos = await api(server, 'GET', '/memos');
    assert.deepEqual(memos.json.map((m) => m.text).sort(), ['b', 'kept']);

    // Delete: its files and its documents go.
    r = await api(server, 'DELETE', '/__resources/memos', undefined, ROOT);
    assert.equal(r.status, 200);
    assert.equal(r.text, '');
    assert.ok(!fs.existsSync(path.join(dir, 'resources', 'memos')));
    assert.equal((await api(server, 'GET', '/memos')).status, 404);
    await api(server, 'POST', '/__resources/memos', { type: 'Collection' }, ROOT);
    assert.equal((await api(server, 'GET', '/memos')).text, '[]', 'a new collection of that name starts empty');
    await api(server, 'DELETE', '/__resources/memos', undefined, ROOT);
  });

  test('a nested resource: deleting the parent keeps the child', async () => {
    await api(server, 'POST', '/__resources/a', { type: 'Collection' }, ROOT);
    await api(server, 'POST', '/__resources/a/b', { type: 'Collection' }, ROOT);
    assert.equal((await api(server, 'GET', '/a/b')).text, '[]');
    assert.equal((await api(server, 'DELETE', '/__resources/a', undefined, ROOT)).status, 200);
    assert.equal((await api(server, 'GET', '/a')).status, 404);
    assert.equal((await api(server, 'GET', '/a/b')).text, '[]');
    await api(server, 'DELETE', '/__resources/a/b', undefined, ROOT);
    assert.ok(!fs.existsSync(path.join(dir, 'resources', 'a')), 'empty folders are removed');
  });

  test('bad input is refused and nothing changes on disk', async () => {
    fs.mkdirSync(path.join(dir, 'outside'), { recursive: true });
    fs.symlinkSync(path.join(dir, 'outside'), path.join(dir, 'resources', 'linked'));
    const before = snapshot(dir);
    const cases = [
      ['POST', '/__resources/..%2Fescape', { type: 'Collection' }, 400],
      ['POST', '/__resources/%2e%2e/escape', { type: 'Collection' }, 404],  // the client resolves it to /escape
      ['POST', '/__resources/__reserved', { type: 'Collection' }, 400],
      ['POST', '/__resources/a%00b', { type: 'Collection' }, 400],
      ['POST', '/__resources/dashboard', { type: 'Collection' }, 400],
      ['POST', '/__resources/socket.io', { type: 'Collection' }, 400],
      ['POST', '/__resources/types', { type: 'Collection' }, 400],
      ['POST', '/__resources/linked', { type: 'Collection' }, 400],
      ['POST', '/__resources/linked/inner', { type: 'Collection' }, 400],
      ['POST', '/__resources/ok', { type: 'Nope' }, 400],
      ['POST', '/__resources/ok', { properties: {} }, 400],
      ['POST', '/__resources/ok', '[1,2]', 400],
      ['POST', '/__resources/ok', { type: 'Collection', properties: { p: { type: 'nonsense' } } }, 400],
      ['PUT', '/__resources/todos', { id: 'users' }, 400],
      ['PUT', '/__resources/todos', { id: '../x' }, 400],
      ['PUT', '/__resources/todos/evil.txt', { value: 'x' }, 400],
      ['PUT', '/__resources/todos/login.js', { value: 'x' }, 400],
      ['PUT', '/__resources/todos/get.js', { value: 42 }, 400],
      ['PUT', '/__resources/todos/get.js', { value: 'x'.repeat(1024 * 1024 + 1) }, 413],  // script.source_bytes
      ['PUT', '/__resources/nope/get.js', { value: 'x' }, 404],
      ['DELETE', '/__resources/nope', undefined, 404],
      ['DELETE', '/__resources/..%2F..', undefined, 404],
    ];
    for (const [method, p, body, status] of cases) {
      const r = await api(server, method, p, body, ROOT);
      assert.equal(r.status, status, `${method} ${p}: ${r.text.slice(0, 200)}`);
      if (status === 400) assert.ok(r.json && r.json.message.length > 0, `${method} ${p} names the problem`);
    }
    assert.deepEqual(snapshot(dir), before, 'nothing changed below resources/');
    assert.deepEqual(fs.readdirSync(path.join(dir, 'outside')), [], 'nothing written through the link');
    assert.ok(!fs.existsSync(path.join(dir, 'escape')));
    const unknown = await api(server, 'POST', '/__resources/ok', { type: 'Nope' }, ROOT);
    assert.equal(unknown.json.message, 'Cannot find type "Nope" for resource ok');
    fs.unlinkSync(path.join(dir, 'resources', 'linked'));
    await assertAlive(server);
    assert.equal((await api(server, 'GET', '/todos')).status, 200, 'the app still loads and serves');
  });

  test('an index property added through the API gets its index in the SQLite file at once', async () => {
    const r = await api(server, 'PUT', '/__resources/todos',
      { properties: { title: { type: 'string', index: true }, code: { type: 'string', unique: true } } }, ROOT);
    assert.equal(r.status, 200, r.text);
    const db = path.join(dir, 'data', 'app.sqlite');
    const indexes = spawnSync('sqlite3', [db, "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='todos'"],
      { encoding: 'utf8' }).stdout.split('\n');
    assert.ok(indexes.includes('todos__title') && indexes.includes('todos__code'), indexes.join(','));
    await api(server, 'POST', '/todos', { title: 'u1', code: 'same' });
    const dup = await api(server, 'POST', '/todos', { title: 'u2', code: 'same' });
    assert.equal(dup.status, 400);
    assert.deepEqual(dup.json.errors, { code: 'is already in use' });
    await api(server, 'PUT', '/__resources/todos', { properties: { title: { type: 'string' } } }, ROOT);
  });

  test('concurrent edits of one resource: the last write wins, no torn file', async () => {
    await api(server, 'POST', '/__resources/race', { type: 'Collection' }, ROOT);
    const writes = [];
    for (let i = 0; i < 20; i++) {
      writes.push(api(server, 'PUT', '/__resources/race', { $setAll: true, type: 'Collection', n: i, pad: 'x'.repeat(5000) }, ROOT));
    }
    const answers = await Promise.all(writes);
    assert.ok(answers.every((a) => a.status === 200));
    const onDisk = JSON.parse(fs.readFileSync(path.join(dir, 'resources', 'race', 'config.json'), 'utf8'));
    assert.ok(Number.isInteger(onDisk.n) && onDisk.pad.length === 5000, 'one whole write');
    assert.equal((await api(server, 'GET', '/__resources/race', undefined, ROOT)).json.n, onDisk.n);
    await api(server, 'DELETE', '/__resources/race', undefined, ROOT);
  });

  test('live reconfiguration under load: 50 changes, no request fails or sees half a config', async () => {
    await api(server, 'POST', '/todos', { title: 'seed' });
    let stop = false;
    let requests = 0;
    const failures = [];
    const loop = async () => {
      while (!stop) {
        const r = await api(server, 'GET', '/todos');
        requests++;
        if (r.status !== 200 || !Array.isArray(r.json) || r.json.length === 0) failures.push(`${r.status} ${r.text.slice(0, 100)}`);
        // A list is either all-old or all-new: the script of one configuration for every document.
        else if (new Set(r.json.map((t) => t.v ?? 'none')).size !== 1) failures.push(`mixed ${r.text.slice(0, 100)}`);
      }
    };
    const loops = [loop(), loop(), loop(), loop()];
    for (let i = 0; i < 50; i++) {
      const props = { title: { type: 'string' } };
      if (i % 2) props.extra = { type: 'number' };
      const c = await api(server, 'PUT', '/__resources/todos', { properties: props }, ROOT);
      assert.equal(c.status, 200, c.text);
      const s = await api(server, 'PUT', '/__resources/todos/get.js', { value: `this.v = ${i};` }, ROOT);
      assert.equal(s.status, 200, s.text);
    }
    stop = true;
    await Promise.all(loops);
    assert.deepEqual(failures, []);
    assert.ok(requests > 50, `${requests} requests during the changes`);
    assert.equal((await api(server, 'GET', '/todos')).json[0].v, 49, 'the last change is live');
  });
});

test('script.source_bytes bounds what /__resources writes and what the server loads', async () => {
  const dir = makeApp();
  fs.writeFileSync(path.join(dir, 'resources', 'todos', 'post.js'), `this.big = 1; // ${'x'.repeat(300)}`);
  const server = await startDpd(dir, ['-e', 'production', '--limit', 'script.source_bytes=200']);
  try {
    assert.equal((await api(server, 'POST', '/todos', { title: 't' })).json.big, undefined, 'the 300-byte script is not loaded');
    const over = await api(server, 'PUT', '/__resources/todos/get.js', { value: 'y'.repeat(201) }, ROOT);
    assert.equal(over.status, 413);
    assert.match(over.json.message, /200 bytes at most \(script\.source_bytes\)/);
    assert.equal((await api(server, 'PUT', '/__resources/todos/get.js', { value: 'this.small = 1;' }, ROOT)).status, 200);
    assert.equal((await api(server, 'GET', '/todos')).json[0].small, 1);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});
