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
