// The HTTP front door: routing, error shapes, no-cache headers, CORS, method override, static files, app
// loading problems and graceful shutdown (issue #2 items 5–9).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { api, assertAlive, copyFixture, get, rawExchange, startDpd, statusOf } from './harness.mjs';

describe('basic app', () => {
  let server;
  let app;
  before(async () => {
    app = copyFixture('basic');
    // a large file, made here rather than kept in git
    fs.writeFileSync(path.join(app, 'public', 'big.bin'), Buffer.alloc(3 * 1024 * 1024, 7));
    server = await startDpd(app, ['--log-level', 'debug']);
  });
  after(async () => { assert.equal(await server.stop(), 0); });

  test('unknown paths: 404 resource not found, exact shape and Content-Type', async () => {
    for (const p of ['/nothing', '/todosx', '/Todos', '/__nothing', '//todos', '/a/b/c']) {
      const r = await get(server, p);
      assert.equal(r.status, 404, p);
      assert.equal(r.headers.get('content-type'), 'application/json');
      assert.equal(await r.text(), '{"message":"resource not found","status":404}');
      assert.equal(r.headers.get('cache-control'), null, 'errors carry no cache headers');
    }
  });

  test('errors are an HTML page when the client accepts html', async () => {
    const r = await get(server, '/nothing', { headers: { accept: 'text/html' } });
    assert.equal(r.status, 404);
    assert.match(r.headers.get('content-type'), /^text\/html/);
    assert.match(await r.text(), /404 resource not found/);
  });

  test('broken and unknown resources are reported with their file and left out', async () => {
    assert.match(server.stderr(), /resources\/broken\/config\.json/);
    assert.match(server.stderr(), /Cannot find type "Proxy" for resource weird \(resources\/weird\/config\.json\)/);
    assert.equal((await get(server, '/weird')).status, 404);
    assert.equal((await get(server, '/broken')).status, 404);
  });

  test('resources own their whole prefix, nested namespaces route to the longest', async () => {
    // a collection answers everything under its path: lists, and "not found" for ids that do not exist
    for (const p of ['/todos', '/todos/', '/todos?x=1', '/somenamespace/test']) {
      const r = await get(server, p);
      assert.equal(r.status, 200, p);
      assert.deepEqual(await r.json(), [], p);
    }
    for (const p of ['/todos/abc/def', '/somenamespace/test/1']) {
      const r = await get(server, p);
      assert.equal(r.status, 404, p);
      assert.equal(await r.text(), '{"message":"not found","statusCode":404,"status":404}');
    }
    const users = await get(server, '/users/me');
    assert.equal(users.status, 204, 'the user collection owns /users (no session: 204)');
    // /somenamespace alone is not a resource: falls through to static files → 404
    assert.equal((await get(server, '/somenamespace')).status, 404);
  });

  test('/__health', async () => {
    const r = await get(server, '/__health');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.equal(r.headers.get('cache-control'), 'no-cache, no-store, must-revalidate');
    assert.equal(r.headers.get('pragma'), 'no-cache');
    assert.equal(r.headers.get('expires'), '0');
    const body = await r.json();
    assert.equal(body.status, 'ok');
    assert.equal(typeof body.requests, 'number');
  });

  test('structured logs carry a request id; the access log never shows the query', async () => {
    await get(server, '/__health?logcheck=secret-value');
    await new Promise((r) => setTimeout(r, 100));
    assert.match(server.stderr(),
      /level=info request id=\d+ ip=127\.0\.0\.1 method=GET path="\/__health" status=200 bytes=\d+ us=\d+ resource="__health"/);
    assert.doesNotMatch(server.stderr(), /secret-value/);
  });

  test('query and body parse errors are Deployd\'s text/plain 400s', async () => {
    let r = await get(server, '/todos?a=%');
    assert.equal(r.status, 400);
    assert.equal(r.headers.get('content-type'), 'text/plain');
    assert.equal(await r.text(), 'Failed to parse querystring: URIError: URI malformed');
    r = await get(server, '/todos', { method: 'POST', body: ' {"a":1}', headers: { 'content-type': 'application/json' } });
    assert.equal(await r.text(), 'Could not parse invalid JSON');
    r = await get(server, '/todos', { method: 'PUT', body: '{"a":1}garbage', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 400);
    assert.equal(await r.text(), 'Failed to parse body as application/json');
    r = await get(server, '/todos', { method: 'POST', body: 'a=%zz', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(await r.text(), 'Failed to parse body as application/x-www-form-urlencoded');
    // a JSON body nested 65 deep is refused
    r = await get(server, '/todos', { method: 'POST', body: '['.repeat(65) + ']'.repeat(65), headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 400);
    await assertAlive(server);
  });

  test('_method is honoured on POST only (a GET never changes method)', async () => {
    // observable through static files, which only answer GET/HEAD
    assert.equal((await get(server, '/app.js', { method: 'POST' })).status, 404);
    assert.equal((await get(server, '/app.js?_method=GET', { method: 'POST' })).status, 200);
    assert.equal((await get(server, '/app.js', {
      method: 'POST', body: '{"_method":"get"}', headers: { 'content-type': 'application/json' },
    })).status, 200);
    assert.equal((await get(server, '/app.js?_method=DELETE')).status, 200, 'GET stays GET');
  });

  test('OPTIONS and CORS (spec §3.1)', async () => {
    let r = await get(server, '/todos', { method: 'OPTIONS' });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    r = await get(server, '/todos', {
      method: 'OPTIONS',
      headers: { origin: 'http://a.example', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type' },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://a.example');
    assert.equal(r.headers.get('access-control-allow-methods'), 'GET,POST,PUT,DELETE');
    assert.equal(r.headers.get('access-control-max-age'), '300');
    r = await get(server, '/nothing', { headers: { origin: 'http://a.example' } });
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://a.example');
    assert.equal(r.headers.get('access-control-allow-credentials'), 'true');
    assert.equal(r.headers.get('access-control-expose-headers'), 'x-session-token,x-session-invalidated');
  });

  test('static files: index, content types, 301, HEAD, 304, ranges', async () => {
    let r = await get(server, '/');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/html/);
    assert.match(await r.text(), /basic fixture/);
    r = await get(server, '/app.js');
    assert.equal(r.headers.get('content-type'), 'application/javascript; charset=UTF-8');
    assert.equal(r.headers.get('cache-control'), 'public, max-age=0');
    assert.equal(r.headers.get('accept-ranges'), 'bytes');
    const etag = r.headers.get('etag');
    const lastModified = r.headers.get('last-modified');
    assert.match(etag, /^W\/"/);
    assert.equal(await r.text(), 'console.log("app");\n');
    r = await get(server, '/sub?x=1');
    assert.equal(r.status, 301);
    assert.equal(r.headers.get('location'), '/sub/?x=1');
    r = await get(server, '/sub/');
    assert.equal(await r.text(), 'sub index\n');
    r = await get(server, '/app.js', { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-length'), '20');
    assert.equal(await r.text(), '');
    r = await get(server, '/app.js', { headers: { 'if-none-match': etag } });
    assert.equal(r.status, 304);
    r = await get(server, '/app.js', { headers: { 'if-modified-since': lastModified } });
    assert.equal(r.status, 304);
    r = await get(server, '/app.js', { headers: { 'if-modified-since': 'garbage' } });
    assert.equal(r.status, 200);
    r = await get(server, '/app.js', { headers: { range: 'bytes=0-6' } });
    assert.equal(r.status, 206);
    assert.equal(r.headers.get('content-range'), 'bytes 0-6/20');
    assert.equal(await r.text(), 'console');
    r = await get(server, '/app.js', { headers: { range: 'bytes=100-' } });
    assert.equal(r.status, 416);
    r = await get(server, '/app.js', { headers: { range: 'bytes=0-0,'.repeat(2000) + '0-0' } });
    assert.equal(r.status, 200);
    r = await get(server, '/big.bin');
    const buf = Buffer.from(await r.arrayBuffer());
    assert.equal(buf.length, 3 * 1024 * 1024);
    assert.ok(buf.every((b) => b === 7));
    r = await get(server, '/big.bin', { method: 'HEAD' });
    assert.equal(r.headers.get('content-length'), String(3 * 1024 * 1024));
  });

  test('static files never escape public/', async () => {
    const raw = ['/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fsecret.txt', '/%252e%252e/secret.txt',
      '/%c0%ae%c0%ae/secret.txt', '/escape.txt', '/etc/passwd', '/.hidden', '/users/%00', '/%00',
      '/sub/../../secret.txt', '/../secret.txt'];
    for (const p of raw) {
      const { data } = await rawExchange(server.port, `GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.ok(!data.includes('top secret'), `${p} leaked`);
      assert.ok(!data.includes('root:'), `${p} leaked /etc/passwd`);
      assert.ok([400, 404, 501].includes(statusOf(data)), `${p} → ${statusOf(data)}`);
    }
    await assertAlive(server);
  });

  test('keep-alive and pipelining: answers in order on one connection', async () => {
    const reqs = ['/app.js', '/nothing', '/__health'].map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`).join('');
    const { data } = await rawExchange(server.port, reqs, { idleMs: 500 });
    const statuses = [...data.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [200, 404, 200]);
  });
});

describe('graceful shutdown', () => {
  test('SIGTERM: idle connections close, an in-flight request finishes, exit 0', async () => {
    const server = await startDpd(copyFixture('basic'));
    const idle = net.connect(server.port, '127.0.0.1');
    await new Promise((r) => idle.on('connect', r));
    const idleClosed = new Promise((r) => idle.on('close', r));
    idle.on('error', () => {});
    // an in-flight request: headers sent, half the body still to come
    const busy = net.connect(server.port, '127.0.0.1');
    await new Promise((r) => busy.on('connect', r));
    let answer = '';
    busy.on('data', (d) => { answer += d; });
    busy.write('POST /app.js?_method=GET HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{"a"');
    await new Promise((r) => setTimeout(r, 200));
    server.proc.kill('SIGTERM');
    await idleClosed;
    // new connections are refused once the listener is closed
    await new Promise((r) => setTimeout(r, 200));
    const refused = await new Promise((resolve) => {
      const s = net.connect(server.port, '127.0.0.1');
      s.on('error', () => resolve(true));
      s.on('connect', () => { s.destroy(); resolve(false); });
    });
    assert.ok(refused, 'listener closed');
    busy.write(':12}');
    const code = await server.exited;
    assert.match(answer, /^HTTP\/1\.1 200 /);
    assert.match(answer, /console\.log/);
    assert.equal(code, 0);
  });

  test('SIGTERM: a socket.io poll still being read when the hub stops is answered at once, exit 0', async () => {
    const server = await startDpd(copyFixture('basic'));
    const open = await api(server, 'GET', '/socket.io/?EIO=4&transport=polling');
    const sid = JSON.parse(open.text.slice(1)).sid;
    const poll = net.connect(server.port, '127.0.0.1');
    await new Promise((r) => poll.on('connect', r));
    let answer = '';
    poll.on('data', (d) => { answer += d; });
    poll.on('error', () => {});
    poll.write(`GET /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: x\r\n`);
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    server.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    poll.write('\r\n');  // the request is complete now, with the realtime hub stopped
    const code = await server.exited;
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 5000, `stopped after ${Date.now() - t0} ms`);
    assert.match(answer, /^HTTP\/1\.1 [24]00 /);
  });
});
