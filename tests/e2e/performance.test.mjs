// The live side of the metrics (issue #15 items 2 and 4): the dashboard's Performance page in Chromium while a load
// runs (figures pushed over socket.io, a screenshot to tests/output/dashboard/), the frames reach root watcher
// sockets only, errors are counted by kind, and an alert threshold shows on the page, in the log and in /__metrics.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { io } from 'socket.io-client';
import { api, copyFixture, repoRoot, startDpd } from './harness.mjs';

const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const shots = process.env.DASHBOARD_SHOTS || path.join(repoRoot, 'tests', 'output', 'dashboard');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Requests from `width` clients at once until stop() is called; resolves to how many were answered.
function load(server, width, make) {
  let running = true;
  let done = 0;
  const lanes = Array.from({ length: width }, async (_, lane) => {
    for (let i = 0; running; i++) {
      const [method, url, body] = make(lane, i);
      await api(server, method, url, body);
      done++;
    }
  });
  const finished = Promise.allSettled(lanes);
  return { stop: async () => { running = false; await finished; return done; } };
}

// The next "dpd:perf" frame a socket.io client gets within `ms`, or null.
function nextFrame(socket, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { socket.off('dpd:perf', on); resolve(null); }, ms);
    const on = (frame) => { clearTimeout(timer); socket.off('dpd:perf', on); resolve(frame); };
    socket.on('dpd:perf', on);
  });
}

describe('the Performance page', () => {
  let server;
  let browser;
  before(async () => {
    fs.mkdirSync(shots, { recursive: true });
    // A threshold every request crosses, so the alert shows.
    server = await startDpd(copyFixture('events'), ['--alert', 'p99_ms=0.001', '--alert', 'interval_s=1']);
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
  });
  after(async () => {
    await browser?.close();
    assert.equal(await server.stop(), 0);
  });

  test('shows live figures while a load runs', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    await page.goto(`${server.base}/dashboard/__performance/`);
    await page.waitForSelector('.page-head .type.live', { timeout: 10000 });
    const traffic = load(server, 8, (lane, i) => (i % 10 === 9 ? ['POST', '/todos', { title: 'x'.repeat(30) }]
      : i % 10 === 8 ? ['GET', '/nope'] : ['GET', '/todos']));
    // A script that runs past its wall time: a 500 of kind script_timeout, and a slow request.
    assert.equal((await api(server, 'POST', '/slow', { name: 'n' })).status, 200);
    assert.equal((await api(server, 'GET', '/slow')).status, 500);
    await sleep(3500);
    const rpsText = await page.textContent('.tile:first-child .value');
    const done = await traffic.stop();
    assert.ok(done > 100, `${done} requests sent`);
    assert.ok(parseFloat(rpsText) > 0, `requests/s shown: ${rpsText}`);
    const text = await page.textContent('main');
    assert.match(text, /By resource/);
    assert.match(text, /\/todos/);
    assert.match(text, /Script timeout/);  // errors by kind
    assert.match(text, /Not found/);
    assert.match(text, /Validation/);      // titles over 20 characters fail validate.js
    assert.match(text, /Alert: p99_ms/);
    // The slowest recent request is the script that timed out, its time spent in the script.
    const slowest = await page.textContent('[data-test=slowest] tbody tr:first-child');
    assert.match(slowest, /GET\/slow500/);
    const lines = await page.$$eval('svg.chart path.line', (ps) => ps.map((p) => p.getAttribute('d')));
    assert.ok(lines.length === 3 && lines.every((d) => d.split('L').length > 2), 'charts drawn');
    await page.screenshot({ path: path.join(shots, '8-performance.png'), fullPage: true });
    await page.click('[data-test=span-hour]');
    assert.match(await page.textContent('.tabs.small a.active'), /Last hour/);
    await page.close();
    // Leaving the page closes its watcher socket.
    await sleep(1500);
    const metrics = await (await fetch(`${server.base}/__metrics`)).text();
    assert.match(metrics, /^dpd_alert_active\{name="p99_ms"\} 1$/m);
    assert.match(metrics, /^dpd_http_errors_total\{kind="script_timeout"\} 1$/m);
    assert.match(server.stderr(), /level=warning alert active name=p99_ms/);
    assert.match(server.stderr(), /level=warning slow request id=\d+ method=GET path="\/slow" resource="slow" status=500 ms=\d+/);
  });
});

describe('who receives the figures', () => {
  let server;
  let key;
  before(async () => {
    const dir = copyFixture('collections');
    key = 'a'.repeat(64);
    fs.mkdirSync(path.join(dir, '.dpd'), { recursive: true });
    fs.writeFileSync(path.join(dir, '.dpd', 'keys.json'), JSON.stringify({ [key]: true }));
    server = await startDpd(dir, ['-e', 'production']);
  });
  after(async () => { assert.equal(await server.stop(), 0); });

  const connect = (headers) => io(server.base, { query: { dpdPerf: '1' }, extraHeaders: headers, transports: ['polling'],
    forceNew: true, reconnection: false });

  test('a root watcher gets a frame a second; a client without the key gets none', async () => {
    const root = connect({ 'dpd-ssh-key': key });
    const guest = connect({});
    const plain = io(server.base, { extraHeaders: { 'dpd-ssh-key': key }, transports: ['polling'], forceNew: true, reconnection: false });
    try {
      await Promise.all([root, guest, plain].map((s) => new Promise((r) => s.on('connect', r))));
      const got = await Promise.all([nextFrame(root, 3000), nextFrame(guest, 3000), nextFrame(plain, 100)]);
      assert.ok(got[0] && got[0].overall && got[0].figures, 'root watcher frame');
      assert.equal(got[1], null, 'no frame without the root key');
      assert.equal(got[2], null, 'no frame to a socket that did not ask');
      // The frame's figures are the server's: one POST shows in the next frames' minute counts.
      assert.equal((await api(server, 'POST', '/todos', { title: 'a' })).status, 200);
      await nextFrame(root, 3000);
      const frame = await nextFrame(root, 3000);
      const todos = frame.resources.find((r) => r.name === 'todos');
      assert.equal(todos.minute.count, 1);
      assert.ok(todos.minute.p50 > 0 && todos.minute.p99 >= todos.minute.p50);
      assert.equal(frame.figures.store.writes >= 1, true);
      assert.ok(frame.figures.memory.rss > 10e6);
    } finally {
      for (const s of [root, guest, plain]) s.close();
    }
  });
});
