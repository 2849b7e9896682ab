// The MongoDB store against CongoDB — a wire-protocol TEST DOUBLE (tests/mongo/congo.mjs), not MongoDB; its known
// gaps are listed in the README. Runs: the store's C++ suite (CRUD, differential test against the matcher), the whole
// collection end-to-end suite on MongoDB, a database written the way Deployd 1.2 writes it, and the fault test.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { api, copyFixture, dpdBin, repoRoot, runDpd, startCongo, startDpd, tempDir } from './harness.mjs';

describe('MongoDB store (on the CongoDB test double)', () => {
  let congo;
  before(async () => { congo = await startCongo(); });
  after(async () => { await congo.stop(); });

  test('the store suite', () => {
    const bin = path.resolve(path.dirname(dpdBin), '..', 'store', 'store_test');
    // The conformance suite's MongoDB instances (but the unique-index test: CongoDB does not enforce them) and the
    // MongoDB-only tests.
    const r = spawnSync(bin, ['--gtest_filter=*/mongo:Mongo*:-*UniqueViolationNamesTheProperty/mongo'], {
      encoding: 'utf8', timeout: 120000,
      env: { ...process.env, DPD_TEST_MONGO_URL: `mongodb://127.0.0.1:${congo.port}/storetest`, DPD_TEST_MONGO_DOUBLE: 'congodb' },
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\[  PASSED  \] 9 tests/);
    assert.doesNotMatch(r.stdout, /SKIPPED/);
  });

  test('the collection end-to-end suite', () => {
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;  // a nested runner would otherwise report in the parent runner's protocol
    const r = spawnSync(process.execPath, ['--test', path.join(repoRoot, 'tests', 'e2e', 'collection.test.mjs')], {
      encoding: 'utf8', timeout: 300000, cwd: path.join(repoRoot, 'tests'), maxBuffer: 64 * 1024 * 1024,
      env: { ...env, DPD_TEST_DB: `mongodb://127.0.0.1:${congo.port}/e2e${process.pid}`, DPD_TEST_MONGO_DOUBLE: 'congodb' },
    });
    const summary = (r.stdout.match(/^# (pass|fail) \d+$/gm) || []).join(', ');
    assert.equal(r.status, 0, `${summary}\n${r.stdout.split('\n').filter((l) => /not ok|expected|actual|Error/.test(l)).join('\n')}\n--- the nested run's last output ---\n${r.stdout.slice(-8000)}${r.stderr.slice(-2000)}`);
    assert.match(summary, /# fail 0/);
  });

  test('bulk writes on MongoDB: all or nothing, errors by index, PUT by query (issue #21)', () => {
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const r = spawnSync(process.execPath, ['--test', path.join(repoRoot, 'tests', 'e2e', 'bulk.test.mjs')], {
      encoding: 'utf8', timeout: 300000, cwd: path.join(repoRoot, 'tests'), maxBuffer: 64 * 1024 * 1024,
      env: { ...env, DPD_TEST_DB: `mongodb://127.0.0.1:${congo.port}/bulk${process.pid}`, DPD_TEST_MONGO_DOUBLE: 'congodb' },
    });
    const summary = (r.stdout.match(/^# (pass|fail) \d+$/gm) || []).join(', ');
    assert.equal(r.status, 0, `${summary}\n${r.stdout.split('\n').filter((l) => /not ok|expected|actual|Error/.test(l)).join('\n')}\n--- the nested run's last output ---\n${r.stdout.slice(-8000)}${r.stderr.slice(-2000)}`);
    assert.match(summary, /# pass 6, # fail 0/);
  });

  test('password reset on MongoDB: tokens as digests, single use, sessions ended (issue #21)', () => {
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const r = spawnSync(process.execPath, ['--test', path.join(repoRoot, 'tests', 'e2e', 'reset.test.mjs')], {
      encoding: 'utf8', timeout: 300000, cwd: path.join(repoRoot, 'tests'), maxBuffer: 64 * 1024 * 1024,
      env: { ...env, DPD_TEST_DB: `mongodb://127.0.0.1:${congo.port}/reset${process.pid}`, DPD_TEST_MONGO_DOUBLE: 'congodb' },
    });
    const summary = (r.stdout.match(/^# (pass|fail) \d+$/gm) || []).join(', ');
    assert.equal(r.status, 0, `${summary}\n${r.stdout.split('\n').filter((l) => /not ok|expected|actual|Error/.test(l)).join('\n')}\n--- the nested run's last output ---\n${r.stdout.slice(-8000)}${r.stderr.slice(-2000)}`);
    assert.match(summary, /# pass 5, # fail 0/);
  });

  test('access rules on MongoDB: the rule merged into its queries and guarding its writes (issue #21)', () => {
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const r = spawnSync(process.execPath, ['--test', path.join(repoRoot, 'tests', 'e2e', 'rules.test.mjs')], {
      encoding: 'utf8', timeout: 300000, cwd: path.join(repoRoot, 'tests'), maxBuffer: 64 * 1024 * 1024,
      env: { ...env, DPD_TEST_DB: `mongodb://127.0.0.1:${congo.port}/rules${process.pid}`, DPD_TEST_MONGO_DOUBLE: 'congodb' },
    });
    const summary = (r.stdout.match(/^# (pass|fail) \d+$/gm) || []).join(', ');
    assert.equal(r.status, 0, `${summary}\n${r.stdout.split('\n').filter((l) => /not ok|expected|actual|Error/.test(l)).join('\n')}\n--- the nested run's last output ---\n${r.stdout.slice(-8000)}${r.stderr.slice(-2000)}`);
    assert.match(summary, /# pass 10, # fail 0/);
  });

  test('concurrent update commands and PUTs all count on MongoDB too (issue #12 item 9)', () => {
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const r = spawnSync(process.execPath, ['--test', '--test-name-pattern=update commands are atomic',
      path.join(repoRoot, 'tests', 'e2e', 'compat.test.mjs')], {
      encoding: 'utf8', timeout: 300000, cwd: path.join(repoRoot, 'tests'), maxBuffer: 64 * 1024 * 1024,
      env: { ...env, DPD_TEST_DB: `mongodb://127.0.0.1:${congo.port}/atomic${process.pid}`, DPD_TEST_MONGO_DOUBLE: 'congodb' },
    });
    const summary = (r.stdout.match(/^# (pass|fail) \d+$/gm) || []).join(', ');
    assert.equal(r.status, 0, `${summary}\n${r.stdout.split('\n').filter((l) => /not ok|expected|actual|Error/.test(l)).join('\n')}\n--- the nested run's last output ---\n${r.stdout.slice(-8000)}${r.stderr.slice(-2000)}`);
    assert.match(summary, /# pass 4, # fail 0/);
  });
});

describe('a database written by Deployd 1.2', () => {
  test('its users log in (and are upgraded), its sessions and documents are served', async () => {
    const salt = crypto.randomBytes(128).toString('hex');
    const hash = salt + crypto.createHmac('sha256', salt).update('old-secret').digest('hex');
    const uid = 'a1b2c3d4e5f60718';
    const sid = crypto.randomBytes(64).toString('hex');
    const now = Date.now();
    const seedFile = path.join(tempDir(), 'seed.json');
    fs.writeFileSync(seedFile, JSON.stringify({ legacy: {
      users: [{ _id: uid, username: 'legacy', password: hash, role: 'admin' }],
      sessions: [{ _id: sid, createdOn: now, lastActive: now, path: '/users', uid,
        userhash: crypto.createHash('md5').update('legacy' + hash).digest('hex') }],
      messages: [{ _id: '0000000000000001', text: 'first', room: 'a' }, { _id: '0000000000000002', text: 'second', room: 'b' }],
    } }));
    const congo = await startCongo(0, seedFile);
    const server = await startDpd(copyFixture('realtime'), ['--db', `mongodb://127.0.0.1:${congo.port}/legacy`]);
    try {
      let r = await api(server, 'GET', '/users/me', undefined, { cookie: `sid=${sid}` });
      assert.equal(r.status, 200, 'a session Deployd stored is recognised');
      assert.deepEqual(r.json, { username: 'legacy', role: 'admin', id: uid });
      r = await api(server, 'GET', '/messages?room=b');
      assert.deepEqual(r.json, [{ text: 'second', room: 'b', id: '0000000000000002' }]);
      r = await api(server, 'GET', '/messages/0000000000000001');
      assert.equal(r.json.text, 'first');
      assert.equal((await api(server, 'POST', '/users/login', { username: 'legacy', password: 'nope' })).status, 401);
      r = await api(server, 'POST', '/users/login', { username: 'legacy', password: 'old-secret' });
      assert.equal(r.status, 200, r.text);
      assert.equal((await api(server, 'GET', '/users/me', undefined, { cookie: `sid=${r.json.id}` })).json.username, 'legacy');
      r = await api(server, 'POST', '/users/login', { username: 'legacy', password: 'old-secret' });
      assert.equal(r.status, 200, 'the upgraded (argon2id) hash still logs in');
    } finally {
      assert.equal(await server.stop(), 0);
      await congo.stop();
    }
  });
});

describe('MongoDB down mid-load', () => {
  test('writes answer 503 (never 2xx) while it is down; dpd recovers by itself when it returns', async () => {
    let congo = await startCongo();
    const port = congo.port;
    const server = await startDpd(copyFixture('collections'),
      ['--db', `mongodb://127.0.0.1:${port}/fault?serverSelectionTimeoutMS=500&socketTimeoutMS=1000`]);
    try {
      let ok = 0;
      for (let i = 0; i < 20; i++) ok += (await api(server, 'POST', '/todos', { title: `before ${i}` })).status === 200 ? 1 : 0;
      assert.equal(ok, 20);
      let ready = await api(server, 'GET', '/__ready');
      assert.equal(ready.status, 200);
      assert.equal(ready.json.store.pool_in_use, 0);
      await congo.stop();
      const during = [];
      for (let i = 0; i < 10; i++) {
        const r = await api(server, 'POST', '/todos', { title: `during ${i}` });
        during.push(r.status);
        if (r.status === 503) assert.equal(r.headers.get('retry-after'), '1');
      }
      assert.ok(during.every((s) => s === 503), `no 2xx while MongoDB is down: ${during}`);
      assert.equal((await api(server, 'GET', '/todos')).status, 503);
      ready = await api(server, 'GET', '/__ready');
      assert.equal(ready.status, 503);
      assert.equal(ready.json.ready, false);
      assert.ok(ready.json.store.unavailable > 0);
      congo = await startCongo(port);  // the same address again (CongoDB keeps data in memory: it comes back empty)
      let recovered = false;
      for (let i = 0; i < 40 && !recovered; i++) {
        recovered = (await api(server, 'POST', '/todos', { title: 'after' })).status === 200;
        if (!recovered) await new Promise((r) => setTimeout(r, 250));
      }
      assert.ok(recovered, 'dpd serves again without a restart');
      assert.equal((await api(server, 'GET', '/__ready')).status, 200);
      const list = await api(server, 'GET', '/todos');
      assert.ok(!list.json.some((t) => t.title.startsWith('during')), 'no write answered 503 was applied');
    } finally {
      assert.equal(await server.stop(), 0);
      await congo.stop();
    }
  });
});

describe('dpd export / dpd import', () => {
  test('SQLite → JSON Lines → MongoDB → JSON Lines → SQLite: the same bytes every time', async () => {
    const app = copyFixture('realtime');
    const server = await startDpd(app, ['--db', 'sqlite:data/app.sqlite']);
    try {
      await api(server, 'POST', '/users', { username: 'exp', password: 'pw', role: 'admin' });
      await api(server, 'POST', '/users/login', { username: 'exp', password: 'pw' });
      for (let i = 0; i < 25; i++) {
        await api(server, 'POST', '/messages', { text: `m${i} é😀`, room: i % 2 ? 'odd' : 'even', toAdmins: i === 3 });
      }
    } finally {
      assert.equal(await server.stop(), 0);
    }
    const dir = tempDir();
    const file = (n) => path.join(dir, n);
    const ok = (r) => assert.equal(r.code, 0, r.stderr);
    ok(runDpd(['export', app, '--sessions', '-f', file('a.jsonl')]));
    const a = fs.readFileSync(file('a.jsonl'), 'utf8');
    assert.equal(a.split('\n').filter(Boolean).length, 1 + 1 + 25, 'users, sessions, messages');
    assert.match(a, /^\{"collection":"messages","doc":\{"text":"m\d+ é😀","room":"(odd|even)"/);
    const congo = await startCongo();
    try {
      const mongo = `mongodb://127.0.0.1:${congo.port}/roundtrip`;
      ok(runDpd(['import', app, '--db', mongo, '-f', file('a.jsonl')]));
      ok(runDpd(['export', app, '--db', mongo, '--sessions', '-f', file('b.jsonl')]));
      assert.equal(fs.readFileSync(file('b.jsonl'), 'utf8'), a, 'SQLite → MongoDB keeps every byte');
      ok(runDpd(['import', app, '--db', 'sqlite:other.sqlite', '-f', file('b.jsonl')]));
      ok(runDpd(['export', app, '--db', 'sqlite:other.sqlite', '--sessions', '-f', file('c.jsonl')]));
      assert.equal(fs.readFileSync(file('c.jsonl'), 'utf8'), a, 'and back');
      const bad = runDpd(['import', app, '--db', 'sqlite:other.sqlite'], { input: '{"collection":"x"}\n' });
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /line 1 is not/);
    } finally {
      await congo.stop();
    }
  });
});
