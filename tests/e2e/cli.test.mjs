// The `dpd` command: exit codes and messages (spec §14 adapted, issue #2 item 4).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { copyFixture, dpdBin, runDpd, startDpd, tempDir } from './harness.mjs';

test('--version and --help', () => {
  const v = runDpd(['--version']);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^dpd \d+\.\d+\.\d+/);
  const h = runDpd(['--help']);
  assert.equal(h.code, 0);
  for (const word of ['create', 'keygen', 'showkey', 'run', '--port', '--environment', '--host', '--db']) {
    assert.ok(h.stdout.includes(word), `help mentions ${word}`);
  }
});

test('without an app folder: clear message, exit 1', () => {
  const dir = tempDir();
  const r = runDpd([], { cwd: dir });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /This directory does not contain a Deployd app!/);
  assert.match(r.stderr, /dpd create/);
  const r2 = runDpd([path.join(dir, 'nope')]);
  assert.equal(r2.code, 1);
});

test('unknown flags and bad values are refused', () => {
  assert.notEqual(runDpd(['--no-such-flag']).code, 0);
  assert.notEqual(runDpd(['--port', 'abc']).code, 0);
  assert.notEqual(runDpd(['--port', '70000']).code, 0);
  const app = copyFixture('basic');
  const db = runDpd([app, '--db', 'postgres://x']);
  assert.equal(db.code, 1);
  assert.match(db.stderr, /--db must be sqlite:<path> or a mongodb:\/\/ URI/);
});

test('--db sqlite:<path> puts the database there; bad options and bad MongoDB URIs are refused', async () => {
  const app = copyFixture('collections');
  const server = await startDpd(app, ['--db', 'sqlite:elsewhere/my.sqlite?synchronous=normal']);
  try {
    const r = await fetch(server.base + '/todos', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"title":"x"}' });
    assert.equal(r.status, 200);
    assert.ok(fs.existsSync(path.join(app, 'elsewhere', 'my.sqlite')));
  } finally {
    assert.equal(await server.stop(), 0);
  }
  const bad = runDpd([app, '--db', 'sqlite:x.sqlite?synchronous=off']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /unknown sqlite option/);
  const mongo = runDpd([app, '--db', 'mongodb://127.0.0.1:notaport/x']);
  assert.equal(mongo.code, 1);
  assert.match(mongo.stderr, /invalid MongoDB URI/);
});

test('--db mongodb:// with MongoDB down: dpd starts, answers 503 with Retry-After, stays up', async () => {
  const app = copyFixture('collections');
  const server = await startDpd(app, ['--db', 'mongodb://127.0.0.1:1/dpd?serverSelectionTimeoutMS=300']);
  try {
    for (const [method, body] of [['GET', undefined], ['POST', '{"title":"x"}']]) {
      const r = await fetch(server.base + '/todos', { method, headers: { 'content-type': 'application/json' }, body });
      assert.equal(r.status, 503, method);
      assert.equal(r.headers.get('retry-after'), '1');
      assert.deepEqual(await r.json(), { message: 'Database unavailable', status: 503 });
    }
    assert.equal((await fetch(server.base + '/index.html')).status, 200, 'static files are still served');
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('dpd create makes an app and refuses an existing folder', () => {
  const dir = tempDir();
  const r = runDpd(['create', 'myapp'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const app = path.join(dir, 'myapp');
  for (const f of ['app.dpd', 'resources', 'public/index.html', '.gitignore', '.dpd']) {
    assert.ok(fs.existsSync(path.join(app, f)), `${f} exists`);
  }
  assert.equal(fs.readFileSync(path.join(app, 'app.dpd'), 'utf8').trim(), '{}');
  assert.match(fs.readFileSync(path.join(app, '.gitignore'), 'utf8'), /\.dpd\//);
  const again = runDpd(['create', 'myapp'], { cwd: dir });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already exists/);
  const dflt = runDpd(['create'], { cwd: dir });
  assert.equal(dflt.code, 0);
  assert.ok(fs.existsSync(path.join(dir, 'my-deployd-app', 'app.dpd')));
});

test('a created app runs and serves its index page', async () => {
  const dir = tempDir();
  assert.equal(runDpd(['create', 'x'], { cwd: dir }).code, 0);
  const server = await startDpd(path.join(dir, 'x', 'app.dpd'));
  try {
    const r = await fetch(server.base + '/');
    assert.equal(r.status, 200);
    assert.match(await r.text(), /Welcome to x/);
    // run creates .dpd/ and data/ beside app.dpd
    assert.ok(fs.existsSync(path.join(dir, 'x', 'data')));
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('dpd run subcommand and -e production', async () => {
  const app = copyFixture('basic');
  const server = await startDpd(app, ['-e', 'production', '--host', '127.0.0.1']);
  try {
    // public-production/ replaces public/ in production
    const r = await fetch(server.base + '/');
    assert.match(await r.text(), /production index/);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('keygen and showkey', () => {
  const dir = tempDir();
  const none = runDpd(['showkey'], { cwd: dir });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /dpd keygen/);
  const k = runDpd(['keygen'], { cwd: dir });
  assert.equal(k.code, 0);
  const m = k.stdout.match(/^created key ([0-9a-f]{16})\.\.\.$/m);
  assert.ok(m, k.stdout);
  const show = runDpd(['showkey'], { cwd: dir });
  assert.equal(show.code, 0);
  assert.match(show.stdout.trim(), /^[0-9a-f]{512}$/);
  assert.ok(show.stdout.startsWith(m[1]));
  const file = path.join(dir, '.dpd', 'keys.json');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(JSON.parse(fs.readFileSync(file, 'utf8'))[show.stdout.trim()], true);
});

test('a port in use is reported with exit 1 when -p is given', async () => {
  const app = copyFixture('basic');
  const first = await startDpd(app);
  try {
    const r = runDpd([app, '-p', String(first.port)]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+/);
  } finally {
    await first.stop();
  }
});

test('--limit sets a limit by name; unknown names and bad values exit 1', () => {
  const shown = runDpd(['--show-limits', '--limit', 'http.body_bytes=2048']);
  assert.equal(shown.code, 0);
  assert.match(shown.stdout, /^http\.body_bytes=2048$/m);
  assert.match(shown.stdout, /^json\.max_depth=64$/m);
  const bad = runDpd(['--show-limits', '--limit', 'http.nope=1']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /unknown limit "http\.nope"/);
  assert.equal(runDpd(['--show-limits', '--limit', 'http.body_bytes=-1']).code, 1);
  assert.equal(runDpd(['--show-limits', '--limit', 'oops']).code, 1);
});

test('the banner names the app and the dashboard; -d and -o open them with xdg-open, or say where to go', async () => {
  const app = copyFixture('basic');
  // A desktop's xdg-open, recording what it was asked to open.
  const bin = tempDir();
  const opened = path.join(bin, 'opened.txt');
  fs.writeFileSync(path.join(bin, 'xdg-open'), `#!/bin/sh\necho "$1" >> ${opened}\n`, { mode: 0o755 });
  const server = await startDpd(app, ['-d', '-o'], { PATH: `${bin}:${process.env.PATH}` });
  try {
    for (let i = 0; i < 50 && !(fs.existsSync(opened) && fs.readFileSync(opened, 'utf8').split('\n').length > 2); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(fs.readFileSync(opened, 'utf8').trim().split('\n').sort(),
      [`${server.base}/`, `${server.base}/dashboard/`]);
  } finally {
    assert.equal(await server.stop(), 0);
  }
  // Without xdg-open (a server): the URL is printed.
  const headless = spawnSync(dpdBin, [app, '--port', '0', '-d'], { encoding: 'utf8', timeout: 3000, killSignal: 'SIGTERM',
    env: { ...process.env, PATH: '/nonexistent' } });
  assert.match(headless.stdout, /^app: {7}http:\/\/127\.0\.0\.1:\d+\/$/m);
  assert.match(headless.stdout, /^dashboard: http:\/\/127\.0\.0\.1:\d+\/dashboard\/$/m);
  assert.match(headless.stdout, /^open http:\/\/127\.0\.0\.1:\d+\/dashboard\/ in your browser$/m);
});
