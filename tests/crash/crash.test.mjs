// Crash consistency (RELIABILITY.md B5, P2 "acknowledged = durable"): writers POST, PUT and DELETE while dpd is
// killed with SIGKILL at a random moment; after a restart every acknowledged write is there, no document is torn,
// and SQLite's integrity check passes. CRASH_ITERATIONS sets the number of kill/restart rounds (default 3;
// `make crash` runs 50).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { copyFixture, startDpd } from '../e2e/harness.mjs';

const ITERATIONS = Number(process.env.CRASH_ITERATIONS || 3);
const WRITERS = 16;

async function call(base, method, urlPath, body) {
  try {
    const r = await fetch(base + urlPath, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    const text = await r.text();
    return { outcome: r.ok ? 'ok' : 'fail', status: r.status, json: r.ok ? JSON.parse(text) : undefined };
  } catch {
    return { outcome: 'unknown' };
  }
}

test(`kill -9 during writes, ${ITERATIONS} rounds: no acknowledged write lost, none torn`, async () => {
  const app = copyFixture('collections');
  const acked = new Map();      // id → body acknowledged by POST (and not deleted since)
  const deleted = new Set();    // ids whose DELETE was acknowledged
  const counters = new Map();   // id → { acked: highest acknowledged order, attempted: highest attempted }
  let totalAcked = 0;

  for (let round = 0; round <= ITERATIONS; round++) {
    const started = Date.now();
    const server = await startDpd(app);
    const readyMs = Date.now() - started;
    assert.ok(readyMs < 5000, `ready after ${readyMs} ms`);
    // Check everything acknowledged so far survived the previous kill.
    for (const [id, body] of acked) {
      const r = await call(server.base, 'GET', `/todos/${id}`);
      assert.equal(r.status, 200, `acknowledged POST ${id} lost (round ${round})`);
      for (const [k, v] of Object.entries(body)) {
        if (k !== 'order') assert.deepEqual(r.json[k], v, `torn document ${id}`);
      }
    }
    for (const id of deleted) {
      assert.equal((await call(server.base, 'GET', `/todos/${id}`)).status, 404, `acknowledged DELETE ${id} undone`);
    }
    for (const [id, c] of counters) {
      const r = await call(server.base, 'GET', `/todos/${id}`);
      if (r.status !== 200) continue;
      assert.ok(r.json.order >= c.acked && r.json.order <= c.attempted,
        `counter ${id}: stored ${r.json.order}, acknowledged ${c.acked}, attempted ${c.attempted}`);
      c.acked = r.json.order;
      c.attempted = r.json.order;
    }

    if (round === ITERATIONS) {  // the last restart only verifies
      assert.equal(await server.stop(), 0);
      break;
    }
    let stop = false;
    const writer = async (w) => {
      let n = 0;
      // one counter document per writer and round
      const made = await call(server.base, 'POST', '/todos', { title: `counter-${round}-${w}`, order: 0 });
      if (made.outcome !== 'ok') return;
      acked.set(made.json.id, { title: made.json.title });
      totalAcked++;
      const counter = { acked: 0, attempted: 0 };
      counters.set(made.json.id, counter);
      while (!stop) {
        const kind = n++ % 3;
        if (kind === 0) {
          const body = { title: `w${w}-r${round}-${n}`, message: 'x'.repeat(50 + (n % 200)), tags: [String(n)] };
          const r = await call(server.base, 'POST', '/todos', body);
          if (r.outcome === 'ok') { acked.set(r.json.id, body); totalAcked++; }
        } else if (kind === 1) {
          counter.attempted++;
          const r = await call(server.base, 'PUT', `/todos/${made.json.id}`, { order: { $inc: 1 } });
          if (r.outcome === 'ok') { counter.acked = r.json.order; totalAcked++; }
          if (r.outcome === 'fail') counter.attempted--;
        } else {
          const victims = [...acked.keys()].filter((id) => !counters.has(id));
          const id = victims[n % Math.max(1, victims.length)];
          if (!id) continue;
          const r = await call(server.base, 'DELETE', `/todos/${id}`);
          if (r.outcome === 'ok' && r.json.count === 1) { acked.delete(id); deleted.add(id); totalAcked++; }
          if (r.outcome === 'unknown') acked.delete(id);  // may or may not be gone: stop checking it
        }
      }
    };
    const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
    await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 950)));
    server.proc.kill('SIGKILL');
    stop = true;
    await server.exited;
    await Promise.all(writers);
  }

  const db = path.join(app, 'data', 'app.sqlite');
  const integrity = execFileSync('sqlite3', [db, 'PRAGMA integrity_check;'], { encoding: 'utf8' }).trim();
  assert.equal(integrity, 'ok');
  const dupes = execFileSync('sqlite3', [db, 'SELECT count(*) - count(DISTINCT id) FROM todos;'], { encoding: 'utf8' }).trim();
  assert.equal(dupes, '0');
  console.log(`crash test: ${ITERATIONS} kills, ${totalAcked} acknowledged writes checked, lost 0, torn 0`);
});
