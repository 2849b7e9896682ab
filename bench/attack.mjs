// `make attack`: the floods of issue #11 at full size against a release dpd on loopback, bounded in count and time,
// printing what each did to the server (descriptors, RSS, latency, status counts). The e2e suite runs the same
// attacks scaled down (tests/e2e/attack.test.mjs); this is for figures.
//   node bench/attack.mjs [path/to/dpd]            (default build/release/src/cli/dpd)
//   ATTACKS=upgrades,regex node bench/attack.mjs   (a subset: upgrades regex broadcast handshakes document login signup)
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fdCount as fds, pool, rawExchange as raw, rssBytes as rss } from '../tests/e2e/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const bin = path.resolve(process.argv[2] || path.join(root, 'build/release/src/cli/dpd'));
const only = process.env.ATTACKS ? process.env.ATTACKS.split(',') : null;
const known = spawnSync(bin, ['--show-limits'], { encoding: 'utf8' }).stdout;
const has = (limit) => known.includes(limit + '=');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mb = (b) => (b / 1048576).toFixed(0) + ' MB';

async function start(args = [], fixture = 'realtime') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dpd-attack-'));
  fs.cpSync(path.join(root, 'tests/fixtures/apps', fixture), path.join(dir, 'app'), { recursive: true });
  const proc = spawn(bin, [path.join(dir, 'app'), '--port', '0', '--log-level', 'error', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const port = await new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => { out += d; const m = out.match(/listening on port (\d+)/); if (m) resolve(Number(m[1])); });
    proc.on('exit', (c) => reject(new Error('dpd exited ' + c)));
  });
  proc.stderr.resume();
  return { port, proc, base: `http://127.0.0.1:${port}`, dir,
    stop() { proc.kill('SIGKILL'); fs.rmSync(dir, { recursive: true, force: true }); } };
}

async function api(s, method, p, body, { timeoutMs = 60000, headers = {} } = {}) {
  const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(timeoutMs) };
  if (body !== undefined) { init.body = JSON.stringify(body); init.headers['content-type'] = 'application/json'; }
  try {
    const r = await fetch(s.base + p, init);
    const text = await r.text();
    return { status: r.status, text };
  } catch (e) {
    return { status: 0, text: String(e.name) };
  }
}

// Latency of /__health on a fresh connection (a keep-alive one might sit on an idle worker).
async function health(s, timeoutMs = 30000) {
  const t0 = performance.now();
  const r = await api(s, 'GET', '/__health', undefined, { timeoutMs, headers: { connection: 'close' } });
  return { ms: performance.now() - t0, ok: r.status === 200 };
}

const count = (list, f) => list.reduce((n, x) => n + (f(x) ? 1 : 0), 0);
const statuses = (list) => {
  const m = {};
  for (const r of list) m[r.status] = (m[r.status] || 0) + 1;
  return Object.entries(m).map(([k, v]) => `${v}×${k}`).join(' ');
};
const rows = [];
const report = (attack, figures) => { rows.push([attack, figures]); console.log(`${attack}: ${figures}`); };

const attacks = {
  async upgrades() {
    // A file-descriptor limit the flood can reach, as in the report (20,000 bad upgrades).
    const s = await start(['--limit', 'http.connections_per_ip=10000']);
    const before = fds(s.proc.pid);
    const targets = ['/socket.io/?EIO=5&transport=websocket', '/socket.io/?transport=websocket',
      '/socket.io/?EIO=4&transport=xx', '/socket.io/?EIO=4&transport=polling',
      '/socket.io/?EIO=4&transport=websocket&sid=nosuch', '/socket.io/'];
    const req = (t) => `GET ${t} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
    const t0 = performance.now();
    const answers = await pool(20000, 100, (i) => raw(s.port, req(targets[i % targets.length]), { idleMs: 300 }));
    const secs = (performance.now() - t0) / 1000;
    await sleep(500);
    const after = fds(s.proc.pid);
    const h = await health(s, 5000);
    report('1 bad upgrades ×20,000', `fds ${before} → ${after}; answers ${count(answers, (a) => a.data.startsWith('HTTP/1.1 101'))}×101 ` +
      `${count(answers, (a) => a.data.startsWith('HTTP/1.1 400'))}×400; ${secs.toFixed(1)} s; /__health ${h.ok ? h.ms.toFixed(1) + ' ms' : 'no answer'}`);
    s.stop();
  },

  async regex() {
    const s = await start();
    const text = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore ';
    await pool(20000, 64, (i) => api(s, 'POST', '/messages', { text: text + i }));
    const q = (f) => '/messages?' + encodeURIComponent(JSON.stringify(f));
    const or = { $or: Array.from({ length: 64 }, (_, i) => ({ text: { $regex: `.{0,100}.{0,100}z${i}` } })) };
    const orSmall = { $or: Array.from({ length: 64 }, (_, i) => ({ text: { $regex: `.{0,100}z${i}` } })) };
    for (const [name, f] of [['.{0,1000}z', { text: { $regex: '.{0,1000}z' } }],
      ['(?:.{0,200}){5}z', { text: { $regex: '(?:.{0,200}){5}z' } }],
      ['64 × .{0,100}.{0,100}z', or], ['64 × .{0,100}z', orSmall]]) {
      const t0 = performance.now();
      const probes = [];
      let done = false;
      const work = Promise.all([api(s, 'GET', q(f), undefined, { timeoutMs: 90000 }),
        api(s, 'GET', q(f), undefined, { timeoutMs: 90000 })]).then((r) => { done = true; return r; });
      while (!done) { probes.push(await health(s, 90000)); await sleep(50); }
      const [a, b] = await work;
      const ms = performance.now() - t0;
      const worst = Math.max(...probes.map((p) => p.ms));
      report(`2 regex ${name} (2 at once, 20k docs)`, `${a.status}/${b.status} in ${(ms / 1000).toFixed(2)} s; ` +
        `/__health worst ${worst.toFixed(0)} ms over ${probes.length} probes`);
    }
    s.stop();
  },

  async broadcast() {
    const args = has('realtime.sessions_per_ip')
      ? ['--limit', 'realtime.sessions_per_ip=5000', '--limit', 'realtime.handshakes_per_ip=100000',
        '--limit', 'http.connections_per_ip=5000']
      : [];
    const s = await start(args);
    const base = rss(s.proc.pid);
    const hs = await pool(1000, 50, () => api(s, 'GET', '/socket.io/?EIO=3&transport=polling&b64=1'));
    const big = 'x'.repeat(900 * 1024);
    let peak = rss(s.proc.pid);
    for (let i = 0; i < 5; i++) {
      await api(s, 'POST', '/messages', { text: big + i });
      await sleep(200);
      peak = Math.max(peak, rss(s.proc.pid));
    }
    const t0 = Date.now();
    while (Date.now() - t0 < 3000) { peak = Math.max(peak, rss(s.proc.pid)); await sleep(100); }
    // Unpolled sessions: dropped at the ping timeout (20 s) by the fixed server, at ping interval + timeout before.
    await sleep(50000);
    const end = rss(s.proc.pid);
    report('3 1,000 unpolled sockets + 5 × 900 KB emits', `${count(hs, (r) => r.status === 200)} handshakes; RSS ${mb(base)} → peak ${mb(peak)} → ${mb(end)} 50 s later`);
    s.stop();
  },

  async handshakes() {
    const s = await start();
    const hs = (localAddress) => raw(s.port, 'GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      { localAddress, idleMs: 2000 });
    const t0 = performance.now();
    const burst = await pool(10000, 100, () => hs('127.0.0.1'));
    const secs = (performance.now() - t0) / 1000;
    const other = await hs('127.0.0.9');
    const code = (a) => a.data.slice(9, 12);
    report('4 10,000 handshakes from one address', `${statuses(burst.map((a) => ({ status: code(a) })))} in ${secs.toFixed(1)} s; ` +
      `another address then: ${code(other)}`);
    s.stop();
  },

  async document() {
    const s = await start([], 'collections');
    const m = JSON.parse((await api(s, 'POST', '/todos', { title: 'grow', tags: [] })).text);
    const chunk = 'z'.repeat(1000 * 1000);
    const results = [];
    for (let i = 0; i < 100; i++) results.push({ status: (await api(s, 'PUT', `/todos/${m.id}`, { tags: { $push: chunk } })).status });
    // Bytes of a response, read and thrown away; `pauseMs` first makes a slow reader (the server holds the body).
    const drain = async (pauseMs = 0) => {
      const r = await fetch(`${s.base}/todos/${m.id}`);
      await sleep(pauseMs);
      let n = 0;
      for await (const chunk of r.body) n += chunk.length;
      return { status: r.status, n };
    };
    const size = (await drain()).n;
    // 16 slow readers of the document at once: the server holds each response while it waits.
    let peak = rss(s.proc.pid);
    const readers = Array.from({ length: 16 }, () => drain(3000));
    const watch = setInterval(() => { peak = Math.max(peak, rss(s.proc.pid)); }, 100);
    const read = await Promise.all(readers);
    clearInterval(watch);
    report('5 100 × PUT $push 1 MB', `${statuses(results)}; stored document ${mb(size)}; 16 slow readers: ` +
      `${statuses(read)}, RSS peak ${mb(peak)}`);
    s.stop();
  },

  async login() {
    const s = await start();
    await api(s, 'POST', '/users', { username: 'victim', password: 'right' });
    const burst = await Promise.all(Array.from({ length: 200 }, (_, i) => api(s, 'POST', '/users/login',
      { username: 'victim', password: i === 199 ? 'right' : 'wrong' + i })));
    report('6 200 concurrent logins (last one right)', `${statuses(burst)}; the right one: ${burst[199].status}`);
    s.stop();
  },

  async signup() {
    const s = await start();
    const t0 = performance.now();
    const results = [];
    for (let i = 0; i < 40; i++) results.push(await api(s, 'POST', '/users', { username: 'u' + i, password: 'pw' }));
    report('7 40 sequential anonymous sign-ups', `${statuses(results)} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    s.stop();
  },
};

console.log(`dpd: ${bin}`);
for (const [name, run] of Object.entries(attacks)) {
  if (only && !only.includes(name)) continue;
  await run();
}
console.log('\n| attack | result |\n| --- | --- |');
for (const [a, f] of rows) console.log(`| ${a} | ${f} |`);
