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

// Polls the scrape until `check(scraped)` is true (gauges taken at the hub's tick or the session upkeep).
async function until(server, check, ms = 12000) {
  const end = Date.now() + ms;
  for (;;) {
    const s = await scrape(server);
    if (check(s) || Date.now() > end) return s;
    await new Promise((r) => setTimeout(r, 250));
  }
}
const value = (s, name, labels = {}) => Number(sample(s[name], labels)?.value ?? NaN);

test('every family is there; sessions and sockets move and go back to their baseline', async () => {
  const { io } = await import('socket.io-client');
  const server = await startDpd(copyFixture('users'), ['--limit', 'session.hash_memory_kib=1024',
    '--limit', 'session.hash_passes=1', '--limit', 'session.max_age_ms=3000']);
  try {
    const before = await scrape(server);
    for (const name of ['dpd_http_errors_total', 'dpd_store_operation_duration_seconds', 'dpd_store_group_commits_total',
      'dpd_store_group_commit_writes_total', 'dpd_store_commit_seconds_total', 'dpd_script_calls_total',
      'dpd_script_seconds_total', 'dpd_script_heap_bytes', 'dpd_script_heap_physical_bytes', 'dpd_sessions_created_total', 'dpd_sessions_ended_total',
      'dpd_sessions_evicted_total', 'dpd_sessions_expired_total', 'dpd_sessions_swept_total',
      'dpd_session_sweep_seconds_total', 'dpd_realtime_sockets_by_transport', 'dpd_realtime_rooms',
      'dpd_realtime_deliveries_total', 'dpd_realtime_dropped_total', 'dpd_event_loop_lag_seconds',
      'dpd_alert_active', 'dpd_uptime_seconds']) {
      assert.ok(before[name], `${name} present`);
    }
    assert.equal(value(before, 'dpd_sessions_cached'), 0);
    // Three users log in; a fourth login fails (not counted as a session).
    const cookies = [];
    for (const name of ['ann', 'bob', 'cy']) {
      assert.equal((await api(server, 'POST', '/users', { username: name, password: 'pw' })).status, 200);
      const login = await fetch(`${server.base}/users/login`, { method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: name, password: 'pw' }) });
      assert.equal(login.status, 200);
      cookies.push(login.headers.get('set-cookie').match(/sid=([^;]+)/)[1]);
    }
    assert.equal((await api(server, 'POST', '/users/login', { username: 'ann', password: 'no' })).status, 401);
    // Two sockets: a socket.io 4 one over WebSocket, one held on polling.
    const ws = io(server.base, { transports: ['websocket'], forceNew: true, reconnection: false });
    const polling = io(server.base, { transports: ['polling'], forceNew: true, reconnection: false });
    await Promise.all([ws, polling].map((s) => new Promise((r) => s.on('connect', r))));
    let mid = await until(server, (s) => value(s, 'dpd_realtime_sockets_by_transport', { eio: '4', transport: 'websocket' }) === 1 &&
      value(s, 'dpd_realtime_sockets_by_transport', { eio: '4', transport: 'polling' }) === 1);
    assert.equal(value(mid, 'dpd_realtime_sockets_by_transport', { eio: '4', transport: 'websocket' }), 1);
    assert.equal(value(mid, 'dpd_realtime_sockets_by_transport', { eio: '3', transport: 'polling' }), 0);
    assert.equal(value(mid, 'dpd_sessions_cached'), 3);
    assert.equal(value(mid, 'dpd_sessions_created_total') - value(before, 'dpd_sessions_created_total'), 3);
    assert.equal(value(mid, 'dpd_http_errors_total', { kind: 'unauthorized' }) -
      value(before, 'dpd_http_errors_total', { kind: 'unauthorized' }), 1);
    // Store operations: the inserts of the users and sessions are timed per operation.
    const inserts = histogram(mid.text, 'dpd_store_operation_duration_seconds', { store: 'sqlite', op: 'insert' });
    assert.ok(inserts && inserts.count >= 6, `inserts timed: ${inserts?.count}`);
    assert.ok(value(mid, 'dpd_store_group_commit_writes_total') >= value(mid, 'dpd_store_group_commits_total'));
    // One logout ends a session at once; the others expire (max age 3 s) and leave the cache.
    const out = await fetch(`${server.base}/users/logout`, { method: 'POST', headers: { cookie: `sid=${cookies[0]}` } });
    assert.ok(out.status < 300);
    ws.close();
    polling.close();
    const after = await until(server, (s) => value(s, 'dpd_sessions_cached') === 0 && value(s, 'dpd_realtime_sockets') === 0 &&
      value(s, 'dpd_realtime_sockets_by_transport', { eio: '4', transport: 'polling' }) === 0 &&
      value(s, 'dpd_realtime_sockets_by_transport', { eio: '4', transport: 'websocket' }) === 0, 20000);
    assert.equal(value(after, 'dpd_sessions_cached'), 0);
    assert.equal(value(after, 'dpd_realtime_sockets'), 0);
    assert.equal(value(after, 'dpd_realtime_sockets_by_transport', { eio: '4', transport: 'websocket' }), 0);
    assert.equal(value(after, 'dpd_sessions_ended_total') - value(before, 'dpd_sessions_ended_total'), 1);
    assert.equal(value(after, 'dpd_sessions_expired_total') - value(before, 'dpd_sessions_expired_total'), 2);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('requests the server refuses before any handler count among the errors', async () => {
  const server = await startDpd(copyFixture('collections'), ['--limit', 'http.body_bytes=1000']);
  try {
    const before = await scrape(server);
    const big = await fetch(`${server.base}/todos`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'x'.repeat(5000) }) });
    assert.equal(big.status, 413);
    const after = await scrape(server);
    assert.equal(value(after, 'dpd_http_errors_total', { kind: 'too_large' }) -
      value(before, 'dpd_http_errors_total', { kind: 'too_large' }), 1);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});
