// Power loss (RELIABILITY.md P2 "acknowledged = durable", issue #19 item 3): dpd runs with the power-loss shim
// (tests/powerloss/powercut.cc) preloaded; writers POST, PUT ($inc counters) and DELETE; the shim "loses power" at
// a random operation or moment, keeping only what was fsync'ed plus a random, possibly torn, selection of the rest.
// The next dpd must hold every acknowledged write, no torn or invented document, and SQLite's integrity check must
// pass. POWERLOSS_CUTS sets the number of cuts (default 20; `make powerloss` runs 500). POWERLOSS_SYNC=normal runs
// dpd with `?synchronous=normal` and reports what that gives up instead of failing.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { copyFixture, dpdBin, startDpd, tempDir } from '../e2e/harness.mjs';

const CUTS = Number(process.env.POWERLOSS_CUTS || 20);
const SYNC = process.env.POWERLOSS_SYNC || 'full';
const STRICT = SYNC === 'full';
const WRITERS = 16;
// The shim of the same build as the binary; the sanitizer builds have none (a preloaded library cannot come before
// the sanitizer runtime), so there the test is skipped: the release run covers it.
const shim = process.env.DPD_POWERCUT_LIB || path.resolve(path.dirname(dpdBin), '..', '..', 'tests', 'libdpd_powercut.so');

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

async function listAll(base) {
  const docs = new Map();
  for (let skip = 0; ; skip += 1000) {
    const q = encodeURIComponent(JSON.stringify({ $sort: { id: 1 }, $limit: 1000, $skip: skip }));
    const r = await call(base, 'GET', `/todos?${q}`);
    assert.equal(r.outcome, 'ok', `listing the collection failed (${r.status})`);
    for (const d of r.json) docs.set(d.id, d);
    if (r.json.length < 1000) return docs;
  }
}

const integrity = (db) => execFileSync('sqlite3', [db, 'PRAGMA integrity_check;'], { encoding: 'utf8' }).trim();

test(`power cut during writes, ${CUTS} cuts, synchronous=${SYNC}: no acknowledged write lost, none torn`,
  { skip: !fs.existsSync(shim) && `the power-loss shim is not built (${shim})` }, async () => {
  const app = copyFixture('collections');
  const data = path.join(app, 'data');
  fs.mkdirSync(data, { recursive: true });
  const control = tempDir('dpd-powercut-');
  const args = SYNC === 'full' ? [] : ['--db', `sqlite:data/app.sqlite?synchronous=${SYNC}`];

  const bodies = new Map();    // title → body of every POST ever attempted (unique titles)
  const acked = new Map();     // id → title, for documents whose POST was acknowledged and not deleted since
  const deleted = new Set();   // ids whose DELETE was acknowledged (or that were seen gone)
  const counters = new Map();  // writer → { id, acked: highest acknowledged value, attempted: highest attempted }
  const stats = { cuts: 0, byCount: 0, requested: 0, checked: 0, acknowledged: 0, unsynced: 0, kept: 0, torn: 0,
    lostPosts: 0, undoneDeletes: 0, lostIncrements: 0 };
  let opsPerSecond = 2000;
  let cycle = 0;

  const verify = async (server) => {
    const docs = await listAll(server.base);
    for (const [id, d] of docs) {
      const body = bodies.get(d.title);
      assert.ok(body, `document ${id} has a title no client sent: ${JSON.stringify(d)}`);
      for (const [k, v] of Object.entries(body)) {
        if (k !== 'order') assert.deepEqual(d[k], v, `torn document ${id} (cycle ${cycle})`);
      }
    }
    for (const [id, title] of acked) {
      stats.checked++;
      if (docs.has(id)) continue;
      assert.ok(!STRICT, `acknowledged POST ${id} (${title}) lost at cut ${stats.cuts}`);
      stats.lostPosts++;
      acked.delete(id);
    }
    for (const id of deleted) {
      stats.checked++;
      if (!docs.has(id)) continue;
      assert.ok(!STRICT, `acknowledged DELETE ${id} undone at cut ${stats.cuts}`);
      stats.undoneDeletes++;
      deleted.delete(id);
      acked.set(id, docs.get(id).title);
    }
    for (const [w, c] of counters) {
      const d = docs.get(c.id);
      if (!d) { counters.delete(w); continue; }  // its POST was lost (synchronous=normal only; checked above)
      stats.checked++;
      if (d.order < c.acked) {
        assert.ok(!STRICT, `counter ${c.id}: stored ${d.order}, acknowledged ${c.acked} (cut ${stats.cuts})`);
        stats.lostIncrements += c.acked - d.order;
      }
      assert.ok(d.order <= c.attempted, `counter ${c.id}: stored ${d.order}, attempted only ${c.attempted}`);
      c.acked = c.attempted = d.order;
    }
    // What is visible now is committed and, with synchronous=FULL, synced: from here on it must stay.
    for (const [id, d] of docs) {
      if (!acked.has(id)) acked.set(id, d.title);
      deleted.delete(id);
    }
    for (const id of [...acked.keys()]) {
      if (!docs.has(id)) { acked.delete(id); deleted.add(id); }
    }
  };

  // A failed check must end the test, not leave the server running: its process would keep the test file alive.
  let current;
  try {
    for (;; cycle++) {
      const done = stats.cuts >= CUTS;
      for (const f of ['arm', 'cut']) fs.rmSync(path.join(control, f), { force: true });
      // Every other cycle the shim cuts at a random operation; otherwise (and as a fallback) at a random moment.
      const cutAtOp = !done && cycle % 2 === 1 ? 1 + Math.floor(Math.random() * opsPerSecond) : 0;
      const server = current = await startDpd(app, args, {
        LD_PRELOAD: shim,
        DPD_POWERCUT_DIR: data,
        DPD_POWERCUT_CONTROL: control,
        DPD_POWERCUT_OPS: String(cutAtOp),
        DPD_POWERCUT_SEED: String(Math.floor(Math.random() * 2 ** 31)),
      });
      await verify(server);
      if (cycle % 10 === 0) assert.equal(integrity(path.join(data, 'app.sqlite')), 'ok', `integrity at cycle ${cycle}`);
      if (done) {
        assert.equal(await server.stop(), 0);
        break;
      }

      fs.writeFileSync(path.join(control, 'arm'), '');
      await new Promise((r) => setTimeout(r, 10));
      let stop = false;
      const writer = async (w) => {
        let n = 0;
        if (!counters.has(w)) {
          const title = `counter-${cycle}-${w}`;
          bodies.set(title, { title });
          const made = await call(server.base, 'POST', '/todos', { title, order: 0 });
          if (made.outcome !== 'ok') return;
          acked.set(made.json.id, title);
          stats.acknowledged++;
          counters.set(w, { id: made.json.id, acked: 0, attempted: 0 });
        }
        const counter = counters.get(w);
        while (!stop) {
          const kind = n++ % 3;
          if (kind === 0) {
            const body = { title: `w${w}-c${cycle}-${n}`, message: 'x'.repeat(50 + ((n * 37) % 3000)), tags: [String(n)] };
            bodies.set(body.title, body);
            const r = await call(server.base, 'POST', '/todos', body);
            if (r.outcome === 'ok') { acked.set(r.json.id, body.title); stats.acknowledged++; }
          } else if (kind === 1) {
            counter.attempted++;
            const r = await call(server.base, 'PUT', `/todos/${counter.id}`, { order: { $inc: 1 } });
            if (r.outcome === 'ok') { counter.acked = Math.max(counter.acked, r.json.order); stats.acknowledged++; }
            if (r.outcome === 'fail') counter.attempted--;
          } else {
            const ids = [...acked.keys()];
            const id = ids[(n * 7919 + w) % Math.max(1, ids.length)];
            if (!id || [...counters.values()].some((c) => c.id === id)) continue;
            const r = await call(server.base, 'DELETE', `/todos/${id}`);
            if (r.outcome === 'ok' && r.json.count === 1) { acked.delete(id); deleted.add(id); stats.acknowledged++; }
            if (r.outcome === 'unknown') acked.delete(id);  // gone or not: the next verify decides
          }
        }
      };
      const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
      const delay = 50 + Math.floor(Math.random() * 700);
      const started = Date.now();
      const timer = setTimeout(() => fs.writeFileSync(path.join(control, 'cut'), ''), cutAtOp ? 3000 : delay);
      const code = await server.exited;
      clearTimeout(timer);
      stop = true;
      await Promise.all(writers);
      const line = server.stderr().match(/powercut: cut \((.+?)\) after (\d+) operations: (\d+) unsynced, kept (\d+), torn (\d+)/);
      assert.equal(code, 99, `dpd ended with ${code} instead of being cut:\n${server.stderr().slice(-2000)}`);
      assert.ok(line, 'the shim reported no cut');
      stats.cuts++;
      if (line[1] === 'requested') {
        stats.requested++;
        opsPerSecond = Math.max(100, Math.round(Number(line[2]) / ((Date.now() - started) / 1000)));
      } else {
        stats.byCount++;
      }
      stats.unsynced += Number(line[3]);
      stats.kept += Number(line[4]);
      stats.torn += Number(line[5]);
    }
  } finally {
    if (current) await current.stop('SIGKILL');
  }

  const db = path.join(data, 'app.sqlite');
  assert.equal(integrity(db), 'ok');
  const dupes = execFileSync('sqlite3', [db, 'SELECT count(*) - count(DISTINCT id) FROM todos;'], { encoding: 'utf8' }).trim();
  assert.equal(dupes, '0');
  const lost = stats.lostPosts + stats.undoneDeletes + stats.lostIncrements;
  console.log(`power-loss test (synchronous=${SYNC}): ${stats.cuts} cuts (${stats.byCount} at a random operation, ` +
    `${stats.requested} at a random moment), ${stats.acknowledged} writes acknowledged, ${stats.checked} checks; ` +
    `unsynced operations at the cuts ${stats.unsynced} (replayed whole ${stats.kept}, torn ${stats.torn}); ` +
    `lost: ${stats.lostPosts} POSTs, ${stats.undoneDeletes} DELETEs, ${stats.lostIncrements} increments (total ${lost}); torn 0`);
  if (STRICT) assert.equal(lost, 0);
});
