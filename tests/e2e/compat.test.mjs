// What Deployd apps rely on (issue #12): behaviours where dpd differed from Deployd 1.2.0 or broke a promise of
// RELIABILITY.md. Each test reproduced the difference before its fix.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { api, assertAlive, copyFixture, startDpd } from './harness.mjs';

describe('compat: HTTP', () => {
  let server;
  before(async () => { server = await startDpd(copyFixture('collections')); });
  after(async () => { assert.equal(await server.stop(), 0); });

  test('a 10 MB body gets its 413 before the connection closes (no reset)', async () => {
    for (let round = 0; round < 5; round++) {
      const status = await new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/todos',
          headers: { 'content-type': 'application/json', 'content-length': 10 * 1024 * 1024 } }, (res) => {
          res.resume();
          resolve(res.statusCode);
        });
        req.on('error', reject);
        const chunk = Buffer.alloc(64 * 1024, 'x');
        let sent = 0;
        const pump = () => {
          while (sent < 10 * 1024 * 1024) {
            sent += chunk.length;
            if (!req.write(chunk)) { req.once('drain', pump); return; }
          }
          req.end();
        };
        pump();
      });
      assert.equal(status, 413);
    }
    await assertAlive(server);
  });
});

// Runs `fn(i)` for i < n with at most `width` at once.
async function pool(n, width, fn) {
  let next = 0;
  const out = new Array(n);
  await Promise.all(Array.from({ length: Math.min(width, n) }, async () => {
    while (next < n) { const i = next++; out[i] = await fn(i); }
  }));
  return out;
}

describe('compat: update commands are atomic under concurrency', () => {
  let server;
  before(async () => { server = await startDpd(copyFixture('collections')); });
  after(async () => { assert.equal(await server.stop(), 0); });

  test('64 clients × 50 $inc on one document: every acknowledged increment counts', async () => {
    const id = (await api(server, 'POST', '/todos', { title: 'counter', order: 0 })).json.id;
    const results = await pool(64 * 50, 64, () => api(server, 'PUT', `/todos/${id}`, { order: { $inc: 1 } }));
    const acked = results.filter((r) => r.status === 200).length;
    assert.equal(acked, 64 * 50);
    assert.equal((await api(server, 'GET', `/todos/${id}`)).json.order, acked);
  });

  test('concurrent $push, $pushAll, $addUnique, $pull: the final array is the sum of the acknowledged operations', async () => {
    const id = (await api(server, 'POST', '/todos', { title: 'list', tags: [] })).json.id;
    const ops = Array.from({ length: 1000 }, (_, i) => (i % 2 ? { $push: `p${i}` } : { $pushAll: [`a${i}`, `b${i}`] }));
    const results = await pool(ops.length, 64, (i) => api(server, 'PUT', `/todos/${id}`, { tags: ops[i] }));
    assert.ok(results.every((r) => r.status === 200));
    let tags = (await api(server, 'GET', `/todos/${id}`)).json.tags;
    assert.equal(tags.length, 500 + 1000);
    assert.equal(new Set(tags).size, 1500);
    const more = await pool(200, 64, (i) => api(server, 'PUT', `/todos/${id}`,
      { tags: i % 2 ? { $addUnique: `u${i % 10}` } : { $pull: `p${i + 1}` } }));
    assert.ok(more.every((r) => r.status === 200));
    tags = (await api(server, 'GET', `/todos/${id}`)).json.tags;
    assert.equal(tags.filter((t) => t.startsWith('u')).length, 5);  // u1 u3 u5 u7 u9, once each
    assert.equal(tags.filter((t) => t.startsWith('p')).length, 500 - 100);
  });

  test('two concurrent PUTs of different fields both stick', async () => {
    let lost = 0;
    for (let round = 0; round < 100; round++) {
      const id = (await api(server, 'POST', '/todos', { title: 'orig', order: 0 })).json.id;
      const [a, b] = await Promise.all([api(server, 'PUT', `/todos/${id}`, { title: 'changed' }),
        api(server, 'PUT', `/todos/${id}`, { order: 7 })]);
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      const doc = (await api(server, 'GET', `/todos/${id}`)).json;
      if (doc.title !== 'changed' || doc.order !== 7) lost++;
    }
    assert.equal(lost, 0);
  });
});
