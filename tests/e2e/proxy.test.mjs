// Behind a load balancer (docs/scaling.md): with --trust-proxy the client of a request from the balancer is the one
// its X-Forwarded-For names, so the per-address limits count clients, not the balancer; without it the header is
// ignored (a client cannot choose its own address).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, copyFixture, startDpd } from './harness.mjs';

const weakHash = ['--limit', 'session.hash_memory_kib=1024', '--limit', 'session.hash_passes=1'];

async function failedLogins(server, n, forwardedFor) {
  const statuses = [];
  for (let i = 0; i < n; i++) {
    const r = await api(server, 'POST', '/users/login', { username: 'zed', password: `wrong ${i}` },
      { 'x-forwarded-for': forwardedFor });
    statuses.push(r.status);
  }
  return statuses;
}

test('--trust-proxy: the login limit counts the forwarded client; a spoofed entry is not believed', async () => {
  const server = await startDpd(copyFixture('users'), ['--trust-proxy', '127.0.0.1', ...weakHash]);
  try {
    assert.deepEqual(await failedLogins(server, 6, '203.0.113.7'), [401, 401, 401, 401, 401, 429]);
    // Another client behind the same balancer is not locked out by the first.
    assert.deepEqual(await failedLogins(server, 1, '203.0.113.8'), [401]);
    // A client that writes the locked-out address itself: the balancer appends the real one, which is what counts.
    assert.deepEqual(await failedLogins(server, 1, '127.0.0.1, 203.0.113.7, 203.0.113.9'), [401]);
    assert.deepEqual(await failedLogins(server, 1, '203.0.113.9, 203.0.113.7'), [429]);
  } finally {
    assert.equal(await server.stop(), 0);
  }
  assert.match(server.stderr(), /ip=203\.0\.113\.8/, 'the access log names the client');
});

test('without --trust-proxy X-Forwarded-For changes nothing', async () => {
  const server = await startDpd(copyFixture('users'), weakHash);
  try {
    assert.deepEqual(await failedLogins(server, 5, '203.0.113.7'), [401, 401, 401, 401, 401]);
    assert.deepEqual(await failedLogins(server, 1, '203.0.113.8'), [429]);
  } finally {
    assert.equal(await server.stop(), 0);
  }
  assert.doesNotMatch(server.stderr(), /ip=203\.0\.113/);
});

test('--trust-proxy refuses what is not an address', async () => {
  await assert.rejects(startDpd(copyFixture('users'), ['--trust-proxy', 'lb.example']),
    /--trust-proxy takes IP addresses/);
});
