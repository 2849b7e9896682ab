// Realtime figures (PERFORMANCE.md, issue "realtime"): run by bench/realtime.sh against a running dpd.
//   fanout <url> <sockets> <posts>  — sockets connected over WebSocket; each POST /feed is emitted to all of them
//                                     (<url> may be a comma-separated list of nodes: sockets spread over them,
//                                     POSTs go to the first)
//   idle <url> <sockets> <pid>      — RSS of dpd before/after connecting that many idle sockets
//   churn <url> <cycles> <pid>      — connect/disconnect cycles: RSS and open fds of dpd before/after
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../tests/package.json', import.meta.url));
const { io } = require('socket.io-client');
const WebSocket = require('ws');

const [mode, url, a, b] = process.argv.slice(2);
const rssKiB = (pid) => Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);
const fds = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const urls = (url || '').split(',');
async function connectMany(n) {
  const sockets = [];
  for (let i = 0; i < n; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 100); j++) {
      const s = io(urls[j % urls.length], { transports: ['websocket'], forceNew: true, reconnection: false });
      sockets.push(s);
      batch.push(new Promise((resolve, reject) => { s.once('connect', resolve); s.once('connect_error', reject); }));
    }
    await Promise.all(batch);
  }
  return sockets;
}

if (mode === 'fanout') {
  const n = Number(a);
  const posts = Number(b);
  const sockets = await connectMany(n);
  const latencies = [];
  let delivered = 0;
  const expected = n * posts;
  const done = new Promise((resolve) => {
    for (const s of sockets) {
      s.on('feed:new', (m) => {
        latencies.push(Date.now() - m.t);
        if (++delivered === expected) resolve();
      });
    }
  });
  const start = Date.now();
  for (let i = 0; i < posts; i++) {
    await fetch(`${urls[0]}/feed`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n: i, t: Date.now() }) });
  }
  await Promise.race([done, sleep(60000)]);
  const seconds = (Date.now() - start) / 1000;
  latencies.sort((x, y) => x - y);
  const p = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  console.log(JSON.stringify({ nodes: urls.length, sockets: n, posts, delivered, expected, seconds, deliveriesPerSecond: Math.round(delivered / seconds),
    p50ms: p(0.5), p99ms: p(0.99) }));
  sockets.forEach((s) => s.close());
} else if (mode === 'idle') {
  const pid = Number(b);
  await sleep(500);
  const before = rssKiB(pid);
  const sockets = await connectMany(Number(a));
  await sleep(2000);
  const after = rssKiB(pid);
  console.log(JSON.stringify({ sockets: sockets.length, rssBeforeKiB: before, rssAfterKiB: after,
    bytesPerSocket: Math.round(((after - before) * 1024) / sockets.length) }));
  sockets.forEach((s) => s.close());
} else if (mode === 'churn') {
  const cycles = Number(a);
  const pid = Number(b);
  const wsUrl = url.replace(/^http/, 'ws') + '/socket.io/?EIO=4&transport=websocket';
  // warm-up, then the baseline
  const once = () => new Promise((resolve) => {
    const ws = new WebSocket(wsUrl);
    ws.on('message', (m) => {
      const t = m.toString();
      if (t[0] === '0') ws.send('40');
      else if (t.startsWith('40')) ws.close();
    });
    ws.on('close', resolve);
    ws.on('error', resolve);
  });
  for (let i = 0; i < 200; i++) await once();
  await sleep(1000);
  const before = { rss: rssKiB(pid), fds: fds(pid) };
  const start = Date.now();
  let next = 0;
  await Promise.all(Array.from({ length: 50 }, async () => { while (next++ < cycles) await once(); }));
  const seconds = (Date.now() - start) / 1000;
  await sleep(3000);
  const after = { rss: rssKiB(pid), fds: fds(pid) };
  console.log(JSON.stringify({ cycles, seconds, cyclesPerSecond: Math.round(cycles / seconds), rssBeforeKiB: before.rss,
    rssAfterKiB: after.rss, fdsBefore: before.fds, fdsAfter: after.fds }));
}
process.exit(0);
