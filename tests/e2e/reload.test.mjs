// The app snapshot (issue #13): a change in the app folder builds a new configuration while the server runs — a
// resource added, a property added, a script edited, a resource removed — and a request that started on the old
// configuration finishes on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { api, assertAlive, get, startDpd, tempDir } from './harness.mjs';

function writeApp(dir) {
  fs.writeFileSync(path.join(dir, 'app.dpd'), '{}');
  fs.mkdirSync(path.join(dir, 'resources', 'todos'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'resources', 'todos', 'config.json'),
    JSON.stringify({ type: 'Collection', properties: { title: { type: 'string' } } }));
}

async function until(what, fn, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('resources added, changed and removed on disk are served without a restart', async () => {
  const dir = path.join(tempDir(), 'app');
  fs.mkdirSync(dir);
  writeApp(dir);
  const server = await startDpd(dir);
  try {
    assert.equal((await api(server, 'GET', '/notes')).status, 404);
    fs.mkdirSync(path.join(dir, 'resources', 'notes'));
    fs.writeFileSync(path.join(dir, 'resources', 'notes', 'config.json'),
      JSON.stringify({ type: 'Collection', properties: { text: { type: 'string' } } }));
    await until('GET /notes answers', async () => (await api(server, 'GET', '/notes')).status === 200);
    const js = await (await get(server, '/dpd.js')).text();
    assert.match(js, /dpd\._resource\("notes", "\/notes", false, true\)/, '/dpd.js offers the new collection');
    assert.equal((await api(server, 'POST', '/notes', { text: 'a', extra: 1 })).json.extra, undefined,
      'the new schema sanitises');

    // A property added to an existing collection.
    fs.writeFileSync(path.join(dir, 'resources', 'todos', 'config.json'),
      JSON.stringify({ type: 'Collection', properties: { title: { type: 'string' }, done: { type: 'boolean' } } }));
    await until('the new property is kept', async () => {
      const r = await api(server, 'POST', '/todos', { title: 't', done: true });
      return r.status === 200 && r.json.done === true;
    });

    // A script added (and the data written before it is still there).
    fs.writeFileSync(path.join(dir, 'resources', 'todos', 'get.js'), 'this.seen = true;');
    await until('get.js runs', async () => {
      const r = await api(server, 'GET', '/todos');
      return r.status === 200 && r.json.length > 0 && r.json.every((t) => t.seen === true);
    });

    // The resource removed.
    fs.rmSync(path.join(dir, 'resources', 'notes'), { recursive: true });
    await until('GET /notes is gone', async () => (await api(server, 'GET', '/notes')).status === 404);
    assert.doesNotMatch(await (await get(server, '/dpd.js')).text(), /dpd\._resource\("notes"/);
    await assertAlive(server);
  } finally {
    await server.stop();
  }
});

test('a request that started before a reload finishes on the configuration it started with', async () => {
  const dir = path.join(tempDir(), 'app');
  fs.mkdirSync(dir);
  writeApp(dir);
  // Asked to, the script spins for 2.5 s (the wall-time limit raised for it): the watcher (a poll a second) reloads meanwhile.
  fs.mkdirSync(path.join(dir, 'resources', 'slow'));
  fs.writeFileSync(path.join(dir, 'resources', 'slow', 'config.json'), JSON.stringify({ type: 'Collection' }));
  fs.writeFileSync(path.join(dir, 'resources', 'slow', 'get.js'),
    'if (query.spin) { var t = Date.now(); while (Date.now() - t < 2500) {} } this.version = "old";');
  const server = await startDpd(dir, ['--limit', 'script.wall_time_ms=10000']);
  try {
    assert.equal((await api(server, 'POST', '/slow', {})).status, 200);
    const pending = api(server, 'GET', '/slow?spin=1');
    await new Promise((r) => setTimeout(r, 200));
    fs.writeFileSync(path.join(dir, 'resources', 'slow', 'get.js'), 'this.version = "new";');
    // The reload is done while the first request still runs: a second client already gets the new script.
    await until('a request started after the change runs the new script', async () =>
      (await api(server, 'GET', '/slow')).json[0].version === 'new', 2000);
    const first = await pending;
    assert.equal(first.status, 200);
    assert.equal(first.json[0].version, 'old', 'the request in flight kept its scripts');
    await assertAlive(server);
  } finally {
    await server.stop();
  }
});
