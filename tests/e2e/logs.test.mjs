// Logs (issue #15 item 3): --log-format json writes one parseable object per line; the access log has what an
// operator needs and never a body, password, session id, key or query value; --no-access-log turns it off; a request
// over log.slow_request_ms is logged with where its time went.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { io } from 'socket.io-client';
import { api, copyFixture, startDpd } from './harness.mjs';

const PASSWORD = 'Zebra-Password-9';
const QUERY_SECRET = 'Query-Secret-7';
const KEY = 'c0ffee'.repeat(11);
const weakHash = ['--limit', 'session.hash_memory_kib=1024', '--limit', 'session.hash_passes=1'];

function jsonLines(text) {
  return text.split('\n').filter(Boolean).map((line) => {
    try {
      return JSON.parse(line);
    } catch (e) {
      assert.fail(`not a JSON line: ${line}`);
    }
  });
}

test('--log-format json: one object per line, the access log complete, no secret anywhere', async () => {
  const dir = copyFixture('users');
  fs.mkdirSync(path.join(dir, '.dpd'), { recursive: true });
  fs.writeFileSync(path.join(dir, '.dpd', 'keys.json'), JSON.stringify({ [KEY]: true }));
  const server = await startDpd(dir, ['--log-format', 'json', '--log-level', 'debug', ...weakHash]);
  let sid;
  try {
    assert.equal((await api(server, 'POST', '/users', { username: 'zed', password: PASSWORD })).status, 200);
    const login = await api(server, 'POST', '/users/login', { username: 'zed', password: PASSWORD });
    assert.equal(login.status, 200);
    sid = login.json.id;
    assert.equal((await api(server, 'POST', '/users/login', { username: 'zed', password: `${PASSWORD}-wrong` })).status, 401);
    assert.equal((await api(server, 'GET', '/users/me', undefined, { cookie: `sid=${sid}` })).status, 200);
    assert.equal((await api(server, 'GET', '/users/me', undefined, { authorization: `Bearer ${sid}` })).status, 200);
    assert.equal((await api(server, 'GET', `/users?token=${QUERY_SECRET}`, undefined, { 'dpd-ssh-key': KEY })).status, 200);
    assert.equal((await api(server, 'PUT', `/users/${login.json.uid}`, { password: `${PASSWORD}-new` },
      { cookie: `sid=${sid}` })).status, 200);
    const socket = io(server.base, { transports: ['polling'], forceNew: true, reconnection: false,
      extraHeaders: { cookie: `sid=${sid}` } });
    await new Promise((r) => socket.on('connect', r));
    socket.emit('server:setSession', { sid });
    await new Promise((r) => setTimeout(r, 300));
    socket.close();
  } finally {
    assert.equal(await server.stop(), 0);
  }
  const text = server.stderr();
  for (const secret of [PASSWORD, QUERY_SECRET, KEY, sid]) {
    assert.ok(!text.includes(secret), `the log shows a secret (${secret.slice(0, 12)}…)`);
  }
  const lines = jsonLines(text);
  assert.ok(lines.length > 10);
  for (const l of lines) {
    assert.match(l.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(['trace', 'debug', 'info', 'warning', 'error', 'critical'].includes(l.level), l.level);
    assert.equal(typeof l.msg, 'string');
  }
  const requests = lines.filter((l) => l.msg === 'request' && typeof l.status === 'number');
  const me = requests.filter((l) => l.path === '/users/me');
  assert.equal(me.length, 2);
  for (const l of me) {
    assert.equal(l.level, 'info');
    assert.equal(l.method, 'GET');
    assert.equal(l.status, 200);
    assert.equal(l.ip, '127.0.0.1');
    assert.equal(typeof l.id, 'number');
    assert.equal(typeof l.us, 'number');
    assert.ok(l.bytes > 0);
    assert.equal(l.resource, 'users');
    assert.equal(typeof l.store_us, 'number');
  }
  assert.ok(requests.some((l) => l.path === '/users' && l.method === 'GET'), 'the query is dropped, the path kept');
  assert.ok(lines.some((l) => l.msg === 'dpd started' && typeof l.port === 'number'));
});

test('--no-access-log: no line per request; slow requests are still logged with their stages', async () => {
  const server = await startDpd(copyFixture('events'), ['--no-access-log', '--limit', 'log.slow_request_ms=50']);
  try {
    assert.equal((await api(server, 'GET', '/todos')).status, 200);
    assert.equal((await api(server, 'POST', '/slow', { name: 'n' })).status, 200);
    assert.equal((await api(server, 'GET', '/slow')).status, 500);  // its get.js loops until the wall-time limit
  } finally {
    assert.equal(await server.stop(), 0);
  }
  const text = server.stderr();
  assert.doesNotMatch(text, /level=info request id=/);
  const slow = text.match(/level=warning slow request id=\d+ method=GET path="\/slow" resource="slow" status=500 ms=([\d.]+) script_ms=([\d.]+) store_ms=([\d.]+) other_ms=([\d.]+)/);
  assert.ok(slow, text);
  const [ms, script] = [Number(slow[1]), Number(slow[2])];
  assert.ok(script > 0.5 * ms, `the script took the time: ${script} of ${ms} ms`);
  assert.doesNotMatch(text, /slow request id=\d+ method=GET path="\/todos"/);
});

test('a bad --log-format or --alert is refused at start', async () => {
  const dir = copyFixture('collections');
  const { runDpd } = await import('./harness.mjs');
  let r = runDpd([dir, '--log-format', 'xml', '--port', '0']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /log-format/);
  r = runDpd([dir, '--alert', 'p42=1', '--port', '0']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /unknown alert "p42=1"/);
  fs.writeFileSync(path.join(dir, 'app.dpd'), JSON.stringify({ alerts: { error_rate: 'high' } }));
  r = runDpd([dir, '--port', '0']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /app.dpd: alert "error_rate" is not a number/);
});
