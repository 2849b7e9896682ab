// /__metrics (issue #15 item 1, first part): the Prometheus text format read by a real parser from npm; counters move
// by exactly what the test did, histograms are consistent, gauges come from the other modules' figures, and the
// endpoint is root-only outside development unless --metrics-public.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { api, copyFixture, startDpd } from './harness.mjs';

// The parser checks the format and reads counters and gauges; it folds labelled histograms into one, so their
// per-label series are read from the same text line by line.
function histogram(text, name, labels) {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const out = { buckets: {}, count: undefined, sum: undefined };
  for (const line of text.split('\n')) {
    const m = line.match(/^(\w+)\{([^}]*)\} (\S+)$/);
    if (!m || !m[1].startsWith(name) || !want.every((w) => m[2].split(',').includes(w))) continue;
    if (m[1] === `${name}_bucket`) out.buckets[m[2].match(/le="([^"]+)"/)[1]] = Number(m[3]);
    if (m[1] === `${name}_count`) out.count = Number(m[3]);
    if (m[1] === `${name}_sum`) out.sum = Number(m[3]);
  }
  return out.count === undefined ? undefined : out;
}

async function scrape(server, headers = {}) {
  const r = await fetch(`${server.base}/__metrics`, { headers });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const text = await r.text();
  const families = parsePrometheusTextFormat(text);
  const out = Object.fromEntries(families.map((f) => [f.name, f]));
  out.text = text;
  return out;
}
const sample = (family, labels) => family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));

test('a scrape parses, and its figures follow what the server did', async () => {
  const server = await startDpd(copyFixture('collections'));
  try {
    const before = await scrape(server);
    const count = (f, labels) => Number(sample(f, labels)?.value ?? 0);
    const histCount = (scraped, labels) => histogram(scraped.text, 'dpd_http_request_duration_seconds', labels)?.count ?? 0;
    const gets0 = count(before.dpd_http_requests_total, { resource: 'todos', method: 'GET', class: '2xx' });
    const posts0 = count(before.dpd_http_requests_total, { resource: 'todos', method: 'POST', class: '2xx' });
    const bad0 = count(before.dpd_http_requests_total, { resource: 'todos', method: 'POST', class: '4xx' });
    for (let i = 0; i < 7; i++) assert.equal((await api(server, 'POST', '/todos', { title: `t${i}` })).status, 200);
    for (let i = 0; i < 5; i++) assert.equal((await api(server, 'GET', '/todos')).status, 200);
    assert.equal((await api(server, 'POST', '/todos', '{"title":')).status, 400);
    const after = await scrape(server);

    assert.equal(count(after.dpd_http_requests_total, { resource: 'todos', method: 'POST', class: '2xx' }) - posts0, 7);
    assert.equal(count(after.dpd_http_requests_total, { resource: 'todos', method: 'GET', class: '2xx' }) - gets0, 5);
    assert.equal(count(after.dpd_http_requests_total, { resource: 'todos', method: 'POST', class: '4xx' }) - bad0, 1);
    // The histogram of GET /todos: buckets monotone, +Inf = count = the requests sent, a plausible sum.
    const h = histogram(after.text, 'dpd_http_request_duration_seconds', { resource: 'todos', method: 'GET' });
    assert.ok(h, 'a histogram per resource and method');
    // (in bound order: an object lists "1", "5", "10" first, as integer keys)
    const les = Object.keys(h.buckets).sort((a, b) => (a === '+Inf' ? Infinity : Number(a)) - (b === '+Inf' ? Infinity : Number(b)));
    assert.equal(les.at(-1), '+Inf');
    const bounds = les.slice(0, -1).map(Number);
    const counts = les.map((b) => h.buckets[b]);
    for (let i = 1; i < counts.length; i++) assert.ok(counts[i] >= counts[i - 1], 'monotone buckets');
    assert.ok(bounds.every((b, i) => i === 0 || b > bounds[i - 1]));
    assert.equal(Number(h.buckets['+Inf']), Number(h.count));
    assert.equal(histCount(after, { resource: 'todos', method: 'GET' }) - histCount(before, { resource: 'todos', method: 'GET' }), 5);
    assert.ok(Number(h.sum) > 0 && Number(h.sum) < 5 * Number(h.count), `sum ${h.sum}`);
    // Reserved routes and the whole-server counter.
    assert.ok(count(after.dpd_http_requests_total, { resource: '__metrics', method: 'GET', class: '2xx' }) >= 1);
    const all = (f) => f.metrics.reduce((n, m) => n + Number(m.value), 0);
    assert.equal(all(after.dpd_http_responses_total) - all(before.dpd_http_responses_total), 7 + 5 + 1 + 1);
    // Sources: uptime, script caches, sessions, sockets, connections.
    for (const name of ['dpd_uptime_seconds', 'dpd_script_cache_hits_total', 'dpd_script_cache_entries',
      'dpd_sessions_cached', 'dpd_realtime_sockets', 'dpd_realtime_queued_bytes', 'dpd_http_connections']) {
      assert.ok(after[name], `${name} present`);
    }
    // The process, as /proc says it is.
    const rss = Number(after.dpd_process_resident_memory_bytes.metrics[0].value);
    const statm = fs.readFileSync(`/proc/${server.proc.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/)[1] * 1024;
    assert.ok(rss > 10e6 && Math.abs(rss - statm) < 0.2 * statm, `RSS ${rss} vs ${statm}`);
    const fds = Number(after.dpd_process_open_fds.metrics[0].value);
    assert.ok(Math.abs(fds - fs.readdirSync(`/proc/${server.proc.pid}/fd`).length) <= 3, `fds ${fds}`);
    assert.match(after.dpd_build_info.metrics[0].labels.version, /^\d+\.\d+\.\d+$/);
    assert.equal(after.dpd_http_request_duration_seconds.type, 'HISTOGRAM');
    assert.equal(after.dpd_http_requests_total.type, 'COUNTER');
    assert.equal(after.dpd_sessions_cached.type, 'GAUGE');
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('outside development /__metrics needs a root key, unless --metrics-public', async () => {
  const dir = copyFixture('collections');
  fs.mkdirSync(path.join(dir, '.dpd'), { recursive: true });
  const key = 'b'.repeat(64);
  fs.writeFileSync(path.join(dir, '.dpd', 'keys.json'), JSON.stringify({ [key]: true }));
  const prod = await startDpd(dir, ['-e', 'production']);
  try {
    assert.equal((await fetch(`${prod.base}/__metrics`)).status, 401);
    assert.equal((await fetch(`${prod.base}/__metrics`, { headers: { 'dpd-ssh-key': 'wrong' } })).status, 401);
    assert.ok((await scrape(prod, { 'dpd-ssh-key': key })).dpd_uptime_seconds);
  } finally {
    assert.equal(await prod.stop(), 0);
  }
  const open = await startDpd(dir, ['-e', 'production', '--metrics-public']);
  try {
    assert.ok((await scrape(open)).dpd_uptime_seconds);
  } finally {
    assert.equal(await open.stop(), 0);
  }
});
