// Resource modules (issue #16): an app folder whose node_modules holds custom resource types — local ones (Hello,
// Proxy, hostile ones) and the real npm packages dpd-event, dpd-fileupload and dpd-email (installed by
// scripts/setup.sh from tests/fixtures/modules-npm) — runs on dpd's embedded Node.js host with no change to the folder.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { io } from 'socket.io-client';
import { api, assertAlive, copyFixture, fdCount, rawExchange, repoRoot, rssBytes, startDpd } from './harness.mjs';

const npmModules = path.join(repoRoot, 'tests', 'fixtures', 'modules-npm', 'node_modules');

// The fixture as a Deployd user has it on disk: the npm packages and the local modules side by side in node_modules.
function modulesApp() {
  const dir = copyFixture('modules');
  const nm = path.join(dir, 'node_modules');
  fs.cpSync(npmModules, nm, { recursive: true });
  fs.cpSync(path.join(dir, 'local_modules'), nm, { recursive: true });
  fs.rmSync(path.join(dir, 'local_modules'), { recursive: true });
  return dir;
}

// A minimal SMTP sink (RFC 5321's happy path, no extensions): the mails it received, as raw DATA text.
function smtpSink() {
  const mails = [];
  const server = net.createServer((sock) => {
    let buf = '';
    let inData = false;
    let mail = null;
    sock.write('220 sink ESMTP\r\n');
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      let i;
      while ((i = buf.indexOf('\r\n')) !== -1) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            mails.push(mail);
            sock.write('250 OK queued\r\n');
          } else {
            mail.data += (line.startsWith('..') ? line.slice(1) : line) + '\n';
          }
          continue;
        }
        const cmd = line.slice(0, 4).toUpperCase();
        if (cmd === 'EHLO' || cmd === 'HELO') sock.write('250 sink\r\n');
        else if (cmd === 'MAIL') { mail = { from: line, to: [], data: '' }; sock.write('250 OK\r\n'); }
        else if (cmd === 'RCPT') { mail.to.push(line); sock.write('250 OK\r\n'); }
        else if (cmd === 'DATA') { inData = true; sock.write('354 go ahead\r\n'); }
        else if (cmd === 'QUIT') { sock.end('221 bye\r\n'); }
        else sock.write('250 OK\r\n');
      }
    });
    sock.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, mails, port: server.address().port })));
}

let srv;
let sink;
let appDir;

before(async () => {
  sink = await smtpSink();
  appDir = modulesApp();
  fs.mkdirSync(path.join(appDir, 'resources', 'mail'));
  fs.writeFileSync(path.join(appDir, 'resources', 'mail', 'config.json'), JSON.stringify({
    type: 'Email', host: '127.0.0.1', port: String(sink.port), ssl: false, username: '', defaultFromAddress: 'app@example.com',
  }));
  srv = await startDpd(appDir, [
    '--limit', 'modules.request_time_ms=3000', '--limit', 'modules.busy_time_ms=1500',
    '--limit', 'modules.heap_bytes=268435456',
  ],
  // Under ASan, freed memory waits in a quarantine (256 MB by default) before it is reused: keep it small so the
  // upload and streaming tests' RSS measures what dpd holds.
  { ASAN_OPTIONS: [process.env.ASAN_OPTIONS, 'quarantine_size_mb=4:thread_local_quarantine_size_kb=64'].filter(Boolean).join(':') });
});

after(async () => {
  await srv?.stop();
  sink?.server.close();
});

test('discovery: the types of node_modules load, a broken one is reported by name, a missing one is ignored', async () => {
  const log = srv.stderr();
  for (const t of ['Hello', 'Proxy', 'Thrower', 'EventResource', 'Fileupload', 'Email']) {
    assert.match(log, new RegExp(`resource type ${t} from node_modules/`), t);
  }
  assert.match(log, /resource module skipped: node_modules\/bad-load: Error: broken at load/);
  assert.doesNotMatch(log, /missing-module/);
  await assertAlive(srv);
});

test('a local type answers at its path and under a namespace; /dpd.js offers it', async () => {
  assert.deepEqual((await api(srv, 'GET', '/hello')).json, { hello: 'world' });
  assert.deepEqual((await api(srv, 'GET', '/somenamespace/hello')).json, { hello: 'world' });
  const r = await api(srv, 'GET', '/hello');
  assert.equal(r.headers.get('content-type'), 'application/json');
  assert.equal(r.headers.get('cache-control'), 'no-cache, no-store, must-revalidate');
  const c = (await api(srv, 'GET', '/hello/crypto')).json;  // Node's crypto (OpenSSL) works in module code
  assert.match(c.random, /^[0-9a-f]{16}$/);
  assert.equal(c.md5, crypto.createHash('md5').update('dpd').digest('hex'));
  const js = await (await fetch(srv.base + '/dpd.js')).text();
  assert.match(js, /dpd\._resource\("hello", "\/hello"/);
  assert.match(js, /dpd\._resource\("ping", "\/ping"/);  // dpd-event sets clientGeneration
});

test('selfHost: a type mounts its own instance (load() run, the app\'s resources in its config); /dpd.js stays dpd\'s; one may decline', async () => {
  const r = await api(srv, 'GET', '/app-status/x');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { status: 'ok', loaded: true, url: '/x', sees: true });
  const js = await (await fetch(srv.base + '/dpd.js')).text();
  assert.doesNotMatch(js, /not the real client/);
  assert.match(js, /dpd\._resource\("hello", "\/hello"/);
  assert.doesNotMatch(js, /app-status/);  // internal, as in Deployd: not offered in the client
  assert.match(srv.stderr(), /type FakeClientLib self-hosts \/dpd\.js: dpd serves that path itself, not mounted/);
  assert.equal((await api(srv, 'GET', '/shy')).status, 404);
});

test('ctx.done errors keep Deployd\'s shape, res.end writes as given, next() falls through to 404', async () => {
  const e = await api(srv, 'GET', '/hello/err');
  assert.equal(e.status, 418);
  assert.deepEqual(e.json, { statusCode: 418, message: 'teapot', status: 418 });
  const raw = await api(srv, 'GET', '/hello/raw');
  assert.equal(raw.status, 201);
  assert.equal(raw.headers.get('content-type'), 'text/plain');
  assert.equal(raw.text, 'raw body');
  const n = await api(srv, 'GET', '/hello/next');
  assert.equal(n.status, 404);
  assert.deepEqual(n.json, { message: 'resource not found', status: 404 });
});

test('ctx.dpd reaches the native collections with the caller\'s session', async () => {
  await api(srv, 'POST', '/todos', { title: 'seen by a module' });
  const r = await api(srv, 'GET', '/hello/todos');
  assert.equal(r.status, 200);
  assert.ok(r.json.todos.some((t) => t.title === 'seen by a module'));
});

test('dpd-event: GET with parts, query and cancel; POST with dpd calls; PUT with status, headers and emit', async () => {
  const g = await api(srv, 'GET', '/ping/a/b?q=x');
  assert.equal(g.status, 200);
  assert.deepEqual(g.json, { pong: true, parts: ['a', 'b'], me: null, q: 'x' });
  const c = await api(srv, 'GET', '/ping?fail=1');
  assert.equal(c.status, 403);
  assert.deepEqual(c.json, { message: 'no ping for you', statusCode: 403, status: 403 });
  const p = await api(srv, 'POST', '/ping', { n: 7 });
  assert.equal(p.status, 200);
  assert.equal(p.json.found, 1);
  const stored = await api(srv, 'GET', `/todos/${p.json.created}`);
  assert.equal(stored.json.title, 'from ping 7');

  const sock = io(srv.base, { transports: ['websocket'], forceNew: true });
  await new Promise((resolve, reject) => { sock.on('connect', resolve); sock.on('connect_error', reject); });
  const got = new Promise((resolve) => sock.on('pinged', resolve));
  const u = await api(srv, 'PUT', '/ping', {}, { 'x-ask': 'hi' });
  assert.equal(u.status, 202);
  assert.equal(u.headers.get('x-ping'), 'hi');
  assert.equal(u.text, 'accepted');
  assert.deepEqual(await got, { by: 'put' });
  sock.close();
});

test('dpd-fileupload: a 5 MB multipart upload lands on disk and in the store; list, download, delete', async () => {
  const bytes = crypto.randomBytes(5 * 1024 * 1024);
  const form = new FormData();
  form.append('file', new Blob([bytes]), 'big.bin');
  const up = await fetch(srv.base + '/files?kind=test', { method: 'POST', body: form });
  const upText = await up.text();
  assert.equal(up.status, 200, upText);
  const saved = JSON.parse(upText);
  assert.equal(saved.length, 1);
  assert.equal(saved[0].filename, 'big.bin');
  assert.equal(saved[0].kind, 'test');
  const onDisk = fs.readFileSync(path.join(appDir, 'public', 'upload', 'big.bin'));
  assert.ok(onDisk.equals(bytes), 'the stored file has the uploaded bytes');

  const list = await api(srv, 'GET', '/files');
  assert.equal(list.status, 200);
  assert.ok(list.json.some((f) => f.id === saved[0].id && f.filename === 'big.bin'));
  const one = await api(srv, 'GET', `/files/${saved[0].id}`);
  assert.equal(one.json.filename, 'big.bin');

  const down = await fetch(srv.base + '/upload/big.bin');
  assert.equal(down.status, 200);
  assert.ok(Buffer.from(await down.arrayBuffer()).equals(bytes), 'the download has the uploaded bytes');

  const del = await api(srv, 'DELETE', `/files/${saved[0].id}`);
  assert.equal(del.status, 200, del.text);
  assert.equal(fs.existsSync(path.join(appDir, 'public', 'upload', 'big.bin')), false);
  const after = await api(srv, 'GET', '/files');
  assert.ok(!after.json.some((f) => f.id === saved[0].id));
});

// Streams a multipart upload of `mib` MiB of random-looking bytes (never held whole by the test either) with
// node:http: a Content-Length, or chunked when `chunked`. Resolves to {status, text, sha256 of the file's bytes}.
function streamUpload(server, urlPath, name, mib, { chunked = false } = {}) {
  const boundary = '----dpd' + crypto.randomBytes(8).toString('hex');
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n` +
                           'Content-Type: application/octet-stream\r\n\r\n');
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const block = crypto.randomBytes(1024 * 1024);
  const hash = crypto.createHash('sha256');
  const headers = { 'content-type': `multipart/form-data; boundary=${boundary}` };
  if (!chunked) headers['content-length'] = String(head.length + mib * block.length + tail.length);
  return new Promise((resolve, reject) => {
    const req = http.request(`${server.base}${urlPath}`, { method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text, sha256: hash.digest('hex') }));
    });
    req.on('error', reject);
    let i = 0;
    const pump = () => {
      while (i < mib) {
        block.writeUInt32LE(i, 0);  // no two MiB alike
        hash.update(block);
        const more = req.write(Buffer.from(block));
        i++;
        if (!more) return req.once('drain', pump);
      }
      req.end(tail);
    };
    req.write(head);
    pump();
  });
}
const sha256Of = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

test('uploads go to disk as they arrive: 200 MiB through dpd-fileupload with the default limits, memory flat, no fd left', async () => {
  const pid = srv.proc.pid;
  await streamUpload(srv, '/files', 'warm.bin', 1);  // the host's first upload loads formidable
  const fds = fdCount(pid);
  const rss0 = rssBytes(pid);
  const big = await streamUpload(srv, '/files?kind=big', 'huge.bin', 200);
  const rss1 = rssBytes(pid);
  assert.equal(big.status, 200, big.text);
  assert.equal(JSON.parse(big.text)[0].filename, 'huge.bin');
  assert.equal(sha256Of(path.join(appDir, 'public', 'upload', 'huge.bin')), big.sha256, 'the stored file has the bytes');
  // A body held in memory would add 200 MiB (twice: dpd and the module host, which lives in dpd's process);
  // streamed, a few buffers plus what Node's collector has not yet returned (more under ASan): half the body at most.
  const grew = `RSS grew by ${((rss1 - rss0) / 1048576).toFixed(1)} MiB`;
  console.log(`200 MiB upload: ${grew}`);
  assert.ok(rss1 - rss0 < 100 * 1024 * 1024, grew);

  const chunked = await streamUpload(srv, '/files', 'chunked.bin', 6, { chunked: true });
  assert.equal(chunked.status, 200, chunked.text);
  assert.equal(sha256Of(path.join(appDir, 'public', 'upload', 'chunked.bin')), chunked.sha256);

  // JSON bodies are still parsed by dpd, so still bounded by http.body_bytes.
  const json = await fetch(srv.base + '/ping', { method: 'POST', headers: { 'content-type': 'application/json' },
                                                 body: JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) }) });
  assert.equal(json.status, 413);
  for (const f of ['huge.bin', 'chunked.bin', 'warm.bin']) fs.rmSync(path.join(appDir, 'public', 'upload', f));
  for (let i = 0; i < 50 && fdCount(pid) > fds; i++) await new Promise((res) => setTimeout(res, 100));
  assert.ok(fdCount(pid) <= fds, `every upload file was closed (${fdCount(pid)} fds, ${fds} before)`);
  await assertAlive(srv);
});

test('upload limits: past modules.upload_bytes 413; past modules.uploads_total_bytes 503; modules.response_bytes; the server goes on', async () => {
  const dir = modulesApp();
  const small = await startDpd(dir, ['--limit', 'modules.upload_bytes=3145728',
                                     '--limit', 'modules.uploads_total_bytes=4194304',
                                     '--limit', 'modules.request_time_ms=3000',
                                     '--limit', 'modules.response_bytes=32768']);
  try {
    // A response held whole (below the 64 KiB where streaming starts, or for a script's dpd call) past its limit.
    const big = await api(small, 'GET', '/hello/stream-cut');
    assert.equal(big.status, 500);
    assert.match(big.json.message, /larger than modules\.response_bytes/);
    const over = await streamUpload(small, '/files', 'over.bin', 4);
    assert.equal(over.status, 413);
    const overChunked = await streamUpload(small, '/files', 'over.bin', 4, { chunked: true });
    assert.equal(overChunked.status, 413);
    // /silent never answers: its 2 MiB stay on disk (and counted) until its time limit, so another 2 MiB is too much.
    const held = streamUpload(small, '/silent', 'held.bin', 2);
    await new Promise((res) => setTimeout(res, 700));
    const refused = await streamUpload(small, '/files', 'second.bin', 2);
    assert.equal(refused.status, 503);
    assert.equal((await held).status, 500);
    const ok = await streamUpload(small, '/files', 'third.bin', 2);
    assert.equal(ok.status, 200, ok.text);
    assert.equal(sha256Of(path.join(dir, 'public', 'upload', 'third.bin')), ok.sha256);
    await assertAlive(small);
  } finally {
    await small.stop();
  }
});

// The bytes /hello/stream sends: MiB block i is filled with i % 251.
function checkStreamed(chunk, offset) {
  const MiB = 1024 * 1024;
  for (let at = 0; at < chunk.length;) {
    const block = Math.floor((offset + at) / MiB);
    const end = Math.min(chunk.length, (block + 1) * MiB - offset);
    const part = chunk.subarray(at, end);
    if (part.indexOf(block % 251 === 0 ? 1 : 0) !== -1 && part.some((b) => b !== block % 251)) return false;
    at = end;
  }
  return true;
}

test('res.write streams: 300 MiB piped out chunked with memory flat; cut short; a rude writer; HTTP/1.0', async () => {
  const pid = srv.proc.pid;
  const rss0 = rssBytes(pid);
  const res = await fetch(srv.base + '/hello/stream?mib=300');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('transfer-encoding'), 'chunked');
  assert.equal(res.headers.get('content-type'), 'application/octet-stream');
  assert.equal(res.headers.get('x-streamed'), 'yes');
  let got = 0;
  let peak = 0;
  let sampled = 0;
  for await (const chunk of res.body) {
    assert.ok(checkStreamed(chunk, got), `bytes at ${got} are what the module wrote`);
    got += chunk.length;
    if (got - sampled > 16 * 1024 * 1024) { peak = Math.max(peak, rssBytes(pid)); sampled = got; }
  }
  assert.equal(got, 300 * 1024 * 1024);
  const grew = `RSS peak ${((peak - rss0) / 1048576).toFixed(1)} MiB above the start`;
  console.log(`300 MiB streamed: ${grew}`);
  // Held whole it would be 300 MiB; streamed, the 1 MiB window plus the module's not yet collected Buffers (64 MiB
  // seen under ASan in a full run, 27 MiB in release): well under half the body.
  assert.ok(peak - rss0 < 128 * 1024 * 1024, grew);

  // A module that fails after it began: the client sees a cut body, never a complete one.
  const cut = await fetch(srv.base + '/hello/stream-cut');
  assert.equal(cut.status, 200);
  await assert.rejects(cut.arrayBuffer());
  // One that ignores write()'s false: all of it arrives, in order.
  const rude = Buffer.from(await (await fetch(srv.base + '/hello/stream-rude')).arrayBuffer());
  assert.equal(rude.length, 64 * 1024 * 1024);
  for (let k = 0; k < 64; k++) assert.equal(rude[k * 1024 * 1024 + 5], k);
  // HTTP/1.0 has no chunks: the body ends with the connection.
  const old = await rawExchange(srv.port, 'GET /hello/stream?mib=1 HTTP/1.0\r\n\r\n', { idleMs: 5000 });
  assert.ok(old.closed);
  const [head, body] = [old.data.slice(0, old.data.indexOf('\r\n\r\n')), old.data.slice(old.data.indexOf('\r\n\r\n') + 4)];
  assert.match(head, /^HTTP\/1.1 200 /);
  assert.doesNotMatch(head, /transfer-encoding|content-length/i);
  assert.equal(body.length, 1024 * 1024);
  await assertAlive(srv);
});

test('a client that leaves a streamed response: the module\'s stream is closed, nothing stays in flight', async () => {
  const closedBefore = (await api(srv, 'GET', '/hello/streams-closed')).json.closed;
  await new Promise((resolve, reject) => {
    const req = http.get(`${srv.base}/hello/stream?mib=4096`, (res) => {
      let got = 0;
      res.on('data', (d) => {
        got += d.length;
        if (got > 2 * 1024 * 1024) { req.destroy(); resolve(); }
      });
    });
    req.on('error', (e) => { if (e.code !== 'ECONNRESET') reject(e); });
  });
  let closed = closedBefore;
  let inFlight = -1;
  for (let i = 0; i < 100; i++) {
    closed = (await api(srv, 'GET', '/hello/streams-closed')).json.closed;
    const text = await (await fetch(srv.base + '/__metrics')).text();
    inFlight = Number((text.match(/^dpd_module_in_flight (\S+)$/m) || [])[1]);
    if (closed > closedBefore && inFlight === 0) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(closed, closedBefore + 1, 'the module saw its response close (\'close\')');
  assert.equal(inFlight, 0);
});

test('dpd-email: configured from config.json, a POST sends through SMTP; its own validation errors come back', async () => {
  const bad = await api(srv, 'POST', '/mail', { subject: 'x' });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.json.errors, { to: "'to' is required", text: "'text' or 'html' is required" });
  const r = await api(srv, 'POST', '/mail', { to: 'someone@example.com', subject: 'Hello from dpd', text: 'It works.' });
  assert.equal(r.status, 200, r.text);
  for (let i = 0; i < 50 && sink.mails.length === 0; i++) await new Promise((res) => setTimeout(res, 100));
  assert.equal(sink.mails.length, 1);
  assert.match(sink.mails[0].from, /app@example\.com/);
  assert.match(sink.mails[0].to[0], /someone@example\.com/);
  assert.match(sink.mails[0].data, /Subject: Hello from dpd/);
  assert.match(sink.mails[0].data, /It works\./);
});

// Hostile modules: each gets its defined answer, the native collection answers throughout, the host comes back.
async function whileNativeServes(fn, server = srv) {
  let stop = false;
  let served = 0;
  let worst = 0;
  const loop = (async () => {
    while (!stop) {
      const t0 = Date.now();
      const r = await api(server, 'GET', '/todos');
      assert.equal(r.status, 200);
      worst = Math.max(worst, Date.now() - t0);
      served++;
    }
  })();
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    while (Date.now() - t0 < 500) await new Promise((res) => setTimeout(res, 50));  // a few GETs also for fast ones
    stop = true;
    await loop;
    assert.ok(served > 5, `native GETs kept answering (${served})`);
    assert.ok(worst < 1000, `no native GET waited on the module host (slowest ${worst} ms)`);
  }
}

// The heap hog gets its own server with the default 30 s time limit: under a loaded machine, reaching 256 MiB could
// take longer than the shared server's 3 s and end as a timeout, a race that is not what the case tests.
const hostile = [
  ['throws in handle', '/thrower', 500, /handle blew up/],
  ['never calls done', '/silent', 500, /Module timed out/],
  ['loops forever', '/looper', 500, /Module host restarted/],
  ['allocates without end', '/hog', 500, /Module host restarted/, ['--limit', 'modules.heap_bytes=268435456']],
  ['calls process.exit', '/exiter', 500, /Module host restarted/],
];
for (const [what, route, status, message, ownArgs] of hostile) {
  test(`a module that ${what}: ${status}, native requests unaffected, the host serves again`, async () => {
    const server = ownArgs ? await startDpd(modulesApp(), ownArgs) : srv;
    try {
      const r = await whileNativeServes(() => api(server, 'GET', route), server);
      assert.equal(r.status, status);
      assert.match(r.json.message, message);
      let back;
      for (let i = 0; i < 50; i++) {
        back = await api(server, 'GET', '/hello');
        if (back.status === 200) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      assert.deepEqual(back.json, { hello: 'world' });
      await assertAlive(server);
    } finally {
      if (ownArgs) await server.stop();
    }
  });
}

test('after the host\'s restarts the self-hosted instance is made again and answers', async () => {
  const r = await api(srv, 'GET', '/app-status');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.loaded, true);
});

test('/__metrics counts the host\'s requests, timeouts and restarts', async () => {
  const text = await (await fetch(srv.base + '/__metrics')).text();
  const value = (name) => Number((text.match(new RegExp(`^${name} (\\S+)$`, 'm')) || [])[1]);
  assert.ok(value('dpd_module_requests_total') > 10, text.slice(0, 200));
  assert.ok(value('dpd_module_timeouts_total') >= 1);
  assert.ok(value('dpd_module_restarts_total') >= 2);  // the looper and process.exit (the hog has its own server)
  assert.equal(value('dpd_module_in_flight'), 0);
  assert.ok(value('dpd_module_heap_bytes') > 0);
});

test('the host serves many concurrent module requests, each its own answer', async () => {
  const results = await Promise.all(Array.from({ length: 64 }, (_, i) => api(srv, 'GET', `/ping/n${i}`)));
  results.forEach((r, i) => {
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.parts, [`n${i}`]);
  });
});

test('authoring: module types in /__resources/types with their settings form; an event edited live; a new one made', async () => {
  const root = { 'dpd-ssh-key': 'any' };  // development on loopback: any key is root (spec §9)
  const types = (await api(srv, 'GET', '/__resources/types', undefined, root)).json;
  assert.deepEqual(types.EventResource.events, ['get.js', 'post.js', 'put.js', 'delete.js']);
  assert.deepEqual(types.EventResource.dashboardPages, ['Config', 'Events']);
  assert.equal(types.EventResource.label, 'Event');
  assert.ok(types.Email.basicDashboard.settings.some((s) => s.name === 'host' && s.type === 'text'));
  assert.deepEqual(types.Hello.dashboardPages, ['Config']);

  const w = await api(srv, 'PUT', '/__resources/ping/get.js', { value: 'setResult({edited: true, q: query.q});' }, root);
  assert.equal(w.status, 200, w.text);
  const g = await api(srv, 'GET', '/ping?q=1');
  assert.deepEqual(g.json, { edited: true, q: 1 });

  const c = await api(srv, 'POST', '/__resources/greeting', { type: 'Hello' }, root);
  assert.equal(c.status, 200, c.text);
  assert.deepEqual((await api(srv, 'GET', '/greeting')).json, { hello: 'world' });
  const d = await api(srv, 'DELETE', '/__resources/greeting', undefined, root);
  assert.equal(d.status, 200, d.text);
  assert.equal((await api(srv, 'GET', '/greeting')).status, 404);
});
