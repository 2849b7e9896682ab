// Soak (RELIABILITY.md "bounded memory", issue #19 item 4): mixed traffic against one dpd for SOAK_SECONDS
// (default 600; make test runs 120 with SOAK_RSS=report) — CRUD through event scripts, logins and logouts,
// realtime sockets of both socket.io generations connecting, listening and leaving, and the collection's get.js
// rewritten every few seconds
// (each rewrite is a reload and a recompile). RSS, open fds, cached sessions, sockets and script-cache entries are
// read every SOAK_SAMPLE_SECONDS (10) from /__metrics and /proc; RSS also each second for the trend.
// Fails when, after the warm-up, RSS grows faster than 0.5 % per 10 minutes (least-squares slope), when a request
// fails, or when a count does not return to its baseline once the traffic stops.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { io as io4 } from 'socket.io-client';
import io2 from 'socket.io-client-2';
import { startDpd, tempDir } from '../e2e/harness.mjs';

const SECONDS = Number(process.env.SOAK_SECONDS || 600);
const SAMPLE_SECONDS = Number(process.env.SOAK_SAMPLE_SECONDS || 10);
const WARMUP_SECONDS = Math.max(30, SECONDS * 0.25);
const MAX_GROWTH = 0.005;  // of RSS per 10 minutes
const CRUD_WORKERS = 6;
const EDIT_MS = Number(process.env.SOAK_EDIT_MS || 4000);  // how often get.js is rewritten
// SOAK_TRAFFIC=crud,auth,realtime,edit runs only those kinds (to find which one a growth comes from).
const TRAFFIC = new Set((process.env.SOAK_TRAFFIC || 'crud,auth,realtime,edit').split(','));
const USERS = 4;

function writeApp() {
  const app = path.join(tempDir('dpd-soak-'), 'soak');
  const res = path.join(app, 'resources');
  const put = (rel, text) => {
    fs.mkdirSync(path.dirname(path.join(res, rel)), { recursive: true });
    fs.writeFileSync(path.join(res, rel), typeof text === 'string' ? text : JSON.stringify(text, null, 2));
  };
  fs.mkdirSync(app, { recursive: true });
  fs.writeFileSync(path.join(app, 'app.dpd'), '{}');
  put('users/config.json', { type: 'UserCollection', properties: { username: { type: 'string', required: true },
    password: { type: 'string', required: true } } });
  put('notes/config.json', { type: 'Collection', properties: { title: { type: 'string', required: true },
    body: { type: 'string' }, owner: { type: 'string' }, n: { type: 'number' }, tags: { type: 'array' } } });
  if (process.env.SOAK_SCRIPTS === '0') return app;  // the same traffic without event scripts (diagnosis)
  // SOAK_EMIT=0 leaves out the scripts' emit calls (diagnosis).
  const emit = process.env.SOAK_EMIT === '0' ? '// ' : '';
  put('notes/post.js', "if (me) this.owner = me.id;\nif (!this.title.length) error('title', 'empty');\n" +
    `${emit}emit('notes:created', {title: this.title});\n`);
  put('notes/put.js', `if (this.n > 1e9) cancel('too big', 400);\n${emit}emit('notes:updated', {id: this.id, n: this.n});\n`);
  put('notes/delete.js', "if (this.title === 'keep') cancel('kept', 400);\n");
  return app;
}
const writeGetScript = (app, version) =>
  fs.writeFileSync(path.join(app, 'resources', 'notes', 'get.js'),
    `// version ${version}\nthis.version = ${version};\nif (query.hide && this.title === query.hide) cancel();\n`);

async function call(base, method, urlPath, body, headers = {}) {
  const r = await fetch(base + urlPath, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : undefined };
}

async function metrics(base) {
  const text = await (await fetch(`${base}/__metrics`)).text();
  const value = (name) => {
    const m = text.match(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm'));
    return m ? Number(m[1]) : NaN;
  };
  return {
    rss: value('dpd_process_resident_memory_bytes'),
    fds: value('dpd_process_open_fds'),
    sessions: value('dpd_sessions_cached'),
    sockets: value('dpd_realtime_sockets'),
    scripts: value('dpd_script_cache_entries'),
    heap: value('dpd_script_heap_bytes'),
    v8: value('dpd_script_heap_physical_bytes'),
    isolates: value('dpd_script_isolates'),
  };
}

// Least-squares slope of y over x.
function slope(points) {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p[0], 0) / n;
  const my = points.reduce((s, p) => s + p[1], 0) / n;
  let num = 0, den = 0;
  for (const [x, y] of points) { num += (x - mx) * (y - my); den += (x - mx) ** 2; }
  return den === 0 ? 0 : num / den;
}

// Resident memory of `pid` in bytes: anonymous (heap, stacks, V8's heaps: where a leak shows) and file-backed
// (the pages of libnode, ICU's data and the other libraries, faulted in as code paths are first used; the kernel
// can drop them at any time).
function residentOf(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number((status.match(new RegExp(`${name}:\\s+(\\d+) kB`)) || [0, 0])[1]) * 1024;
  return { anon: kb('RssAnon'), file: kb('RssFile') };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test(`soak: ${SECONDS} s of mixed traffic, memory flat and every count back to its baseline`,
  { timeout: (SECONDS + 120) * 1000 }, async () => {
  const app = writeApp();
  let version = 1;
  if (process.env.SOAK_SCRIPTS !== '0') writeGetScript(app, version);
  const server = await startDpd(app, ['--no-access-log']);
  const base = server.base;
  const pid = server.proc.pid;
  for (let u = 0; u < USERS; u++) {
    assert.equal((await call(base, 'POST', '/users', { username: `u${u}`, password: `pw-${u}` })).status, 200);
  }
  const before = await metrics(base);

  const failures = [];
  const counts = { crud: 0, logins: 0, sockets: 0, events: 0, edits: 0 };
  let phase = 'run';
  const expect = (what, r, status = 200) => {
    if (r.status !== status) failures.push(`${what}: ${r.status} ${JSON.stringify(r.json)}`);
    return r.status === status;
  };

  const crud = async (w) => {
    for (let i = 0; phase === 'run'; i++) {
      const made = await call(base, 'POST', '/notes', { title: `w${w}-${i}`, body: 'x'.repeat(i % 500), tags: [w, i], n: 0 });
      if (!expect('POST /notes', made)) continue;
      const id = made.json.id;
      const got = await call(base, 'GET', `/notes/${id}`);
      if (expect('GET /notes/:id', got) && process.env.SOAK_SCRIPTS !== '0' && !(got.json.version >= 1)) failures.push(`get.js did not run: ${JSON.stringify(got.json)}`);
      expect('PUT /notes/:id', await call(base, 'PUT', `/notes/${id}`, { n: { $inc: 1 } }));
      expect('GET /notes?query', await call(base, 'GET', `/notes?${encodeURIComponent(JSON.stringify({ $limit: 10, $sort: { n: -1 } }))}`));
      expect('DELETE /notes/:id', await call(base, 'DELETE', `/notes/${id}`));
      counts.crud += 5;
    }
  };
  const auth = async () => {
    for (let i = 0; phase === 'run'; i++) {
      const u = i % USERS;
      const login = await call(base, 'POST', '/users/login', { username: `u${u}`, password: `pw-${u}` });
      if (!expect('POST /users/login', login)) { await sleep(100); continue; }
      const cookie = { cookie: `sid=${login.json.id}` };
      const me = await call(base, 'GET', '/users/me', undefined, cookie);
      if (expect('GET /users/me', me) && me.json.username !== `u${u}`) failures.push(`/users/me is ${me.json.username}`);
      const note = await call(base, 'POST', '/notes', { title: `by-u${u}` }, cookie);
      if (expect('POST /notes as a user', note)) {
        if (note.json.owner !== login.json.uid && note.json.owner !== me.json.id) failures.push('owner not set by post.js');
        expect('DELETE own note', await call(base, 'DELETE', `/notes/${note.json.id}`, undefined, cookie));
      }
      expect('POST /users/logout', await call(base, 'POST', '/users/logout', undefined, cookie));
      counts.logins++;
    }
  };
  const open = new Set();
  const realtime = async () => {
    const kinds = [
      () => io4(base, { forceNew: true, reconnection: false, transports: ['websocket'] }),
      () => io4(base, { forceNew: true, reconnection: false, transports: ['polling'] }),
      () => io2(base, { forceNew: true, reconnection: false, transports: ['polling', 'websocket'] }),
    ];
    for (let i = 0; phase === 'run'; i++) {
      const socket = kinds[i % kinds.length]();
      open.add(socket);
      const ok = await new Promise((resolve) => {
        const t = setTimeout(() => resolve(false), 5000);
        socket.once('connect', () => { clearTimeout(t); resolve(true); });
        socket.once('connect_error', () => { clearTimeout(t); resolve(false); });
      });
      if (!ok) failures.push('a socket did not connect');
      socket.on('notes:created', () => { counts.events++; });
      counts.sockets++;
      // Up to 8 sockets at once; each stays 0.2–2 s.
      setTimeout(() => { socket.close(); open.delete(socket); }, 200 + (i * 397) % 1800);
      while (open.size >= 8 && phase === 'run') await sleep(50);
      await sleep(100);
    }
  };
  const editor = async () => {
    while (phase === 'run') {
      await sleep(EDIT_MS);
      if (phase !== 'run') break;
      writeGetScript(app, ++version);
      counts.edits++;
    }
  };

  const started = Date.now();
  const rss = [];     // [seconds since start, anonymous bytes] each second of the measured phase
  const fileRss = []; // [seconds since start, file-backed bytes], reported only
  const samples = []; // every SAMPLE_SECONDS
  let sampling = false;
  const sampler = async () => {
    let lastSample = -Infinity;
    while (phase === 'run') {
      const t = (Date.now() - started) / 1000;
      if (sampling) {
        const r = residentOf(pid);
        rss.push([t, r.anon]);
        fileRss.push([t, r.file]);
      }
      if (t - lastSample >= SAMPLE_SECONDS) {
        lastSample = t;
        samples.push({ t: Math.round(t), phase: sampling ? 'measured' : 'warm-up', ...(await metrics(base)) });
      }
      await sleep(1000);
    }
  };
  const traffic = async (seconds) => {
    phase = 'run';
    const until = Date.now() + seconds * 1000;
    const workers = [
      ...(TRAFFIC.has('crud') ? Array.from({ length: CRUD_WORKERS }, (_, w) => crud(w)) : []),
      ...(TRAFFIC.has('auth') ? [auth()] : []), ...(TRAFFIC.has('realtime') ? [realtime()] : []),
      ...(TRAFFIC.has('edit') ? [editor()] : []), sampler()];
    while (Date.now() < until && server.proc.exitCode === null) await sleep(250);
    phase = 'stop';
    await Promise.all(workers);
    for (const s of open) s.close();
    open.clear();
  };
  // Waits until `ok(metrics)` holds (a socket's close, a logout's end, a keep-alive connection's idle close take
  // a moment to be seen), at most 20 s; returns the last reading.
  const settle = async (ok) => {
    let m;
    for (let i = 0; i < 40; i++) {
      await sleep(500);
      m = await metrics(base);
      if (ok(m)) break;
    }
    return m;
  };

  try {
    // Warm-up: every code path, pool and cache reaches its working size; then the counts settle to the baseline.
    await traffic(WARMUP_SECONDS);
    const baseline = await settle((m) => m.sessions <= before.sessions && m.sockets === 0);
    const baselineScripts = baseline.scripts;
    // The measured phase.
    sampling = true;
    await traffic(SECONDS - WARMUP_SECONDS);
    const after = await settle((m) => m.sessions <= baseline.sessions && m.sockets <= baseline.sockets &&
      m.fds <= baseline.fds && m.scripts <= baselineScripts);
    // The trend of anonymous RSS: least squares over the lowest reading of each sampling interval (the troughs after
    // the allocator and V8's collector give memory back; the peaks between are garbage not yet collected).
    const troughs = [];
    for (const [t, bytes] of rss) {
      const bucket = Math.floor(t / SAMPLE_SECONDS);
      const last = troughs[troughs.length - 1];
      if (last && last.bucket === bucket) last.point[1] = Math.min(last.point[1], bytes);
      else troughs.push({ bucket, point: [t, bytes] });
    }
    // A last interval cut short by the end of the traffic may hold a single reading (a peak, not a trough).
    if (troughs.length > 2 && rss.filter(([t]) => Math.floor(t / SAMPLE_SECONDS) === troughs[troughs.length - 1].bucket).length < SAMPLE_SECONDS / 2) troughs.pop();
    const points = troughs.map((x) => x.point);
    const meanRss = points.reduce((sum, p) => sum + p[1], 0) / Math.max(1, points.length);
    const growth = points.length > 2 ? (slope(points) * 600) / meanRss : 0;  // share of RSS per 10 minutes
    console.log(`soak: ${SECONDS} s: ${counts.crud} CRUD requests, ${counts.logins} login/logout rounds, ` +
      `${counts.sockets} sockets (${counts.events} events received), ${counts.edits} script edits`);
    for (const s of samples) {
      console.log(`soak:   t=${s.t}s ${s.phase} rss=${(s.rss / 1048576).toFixed(1)} MiB fds=${s.fds} sessions=${s.sessions} ` +
        `sockets=${s.sockets} script-cache=${s.scripts} script-heap=${(s.heap / 1048576).toFixed(1)} MiB ` +
        `(V8 holds ${(s.v8 / 1048576).toFixed(1)} MiB in ${s.isolates} isolates)`);
    }
    console.log(`soak: anonymous RSS troughs (MiB, one per ${SAMPLE_SECONDS} s): ${points.map((p) => (p[1] / 1048576).toFixed(2)).join(' ')}`);
    if (fileRss.length) {
      console.log(`soak: file-backed RSS ${(fileRss[0][1] / 1048576).toFixed(1)} → ${(fileRss[fileRss.length - 1][1] / 1048576).toFixed(1)} MiB ` +
        '(library pages faulted in on first use; not counted)');
    }
    console.log(`soak: baseline after the warm-up ${JSON.stringify(baseline)}, after the traffic ${JSON.stringify(after)}; ` +
      `anonymous RSS (troughs) ${(meanRss / 1048576).toFixed(1)} MiB, trend ${(growth * 100).toFixed(3)} % per 10 min ` +
      `(limit ${MAX_GROWTH * 100} %)`);

    assert.equal(server.proc.exitCode, null, 'dpd exited during the soak');
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} requests failed`);
    if (TRAFFIC.size === 4) {
      assert.ok(counts.crud > 0 && counts.logins > 0 && counts.sockets > 0 && counts.edits > 0, 'every kind of traffic ran');
      assert.ok(counts.events > 0, 'sockets received the events post.js emitted');
    }
    assert.ok(after.sessions <= baseline.sessions, `sessions: ${baseline.sessions} before, ${after.sessions} after`);
    assert.ok(after.sockets <= baseline.sockets, `sockets: ${baseline.sockets} before, ${after.sockets} after`);
    assert.ok(after.scripts <= baselineScripts, `script cache: ${baselineScripts} entries before, ${after.scripts} after`);
    assert.ok(after.fds <= baseline.fds, `fds: ${baseline.fds} before, ${after.fds} after`);
    // SOAK_RSS=report (make test's two-minute run): the trend is printed, not judged — 90 measured seconds are too
    // few to judge 0.5 % per 10 minutes (docs/reliability-tests.md); every count above is still judged.
    if (process.env.SOAK_RSS !== 'report') {
      assert.ok(growth <= MAX_GROWTH, `anonymous RSS grows ${(growth * 100).toFixed(3)} % per 10 minutes after the warm-up`);
    }
    const kept = await call(base, 'POST', '/notes', { title: 'keep' });
    assert.equal(kept.status, 200);
    const final = await call(base, 'GET', '/notes');
    assert.equal(final.status, 200);
    assert.ok(final.json.length >= 1 && final.json.every((n) => n.version === version),
      `the last get.js edit (version ${version}) is the one that runs: ${JSON.stringify(final.json).slice(0, 300)}`);
    assert.equal(await server.stop(), 0);
  } finally {
    phase = 'stop';
    if (server.proc.exitCode === null) server.proc.kill('SIGKILL');
  }
});
