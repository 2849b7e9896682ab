// Password reset (issue #21 item 5, docs/password-reset.md): POST /users/forgot answers the same for every username
// (and no sooner than session.reset_answer_time_ms), stores a single-use token only as its digest, and hands the
// plain token to the app's forgot.js; POST /users/reset sets the password, burns the token and ends the sessions.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { api, pool, startDpd, tempDir } from './harness.mjs';

const KEY = 'd'.repeat(64);
const root = { 'dpd-ssh-key': KEY };

function writeApp() {
  const dir = path.join(tempDir(), 'reset-app');
  const resource = (name, config, files = {}) => {
    fs.mkdirSync(path.join(dir, 'resources', name), { recursive: true });
    fs.writeFileSync(path.join(dir, 'resources', name, 'config.json'), JSON.stringify(config));
    for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, 'resources', name, f), text);
  };
  // The app delivers the token: here into an outbox collection (a real app would dpd.email.post it), reversed so
  // that the plain token itself is never in the database files (the last test looks for it there).
  resource('users', { type: 'UserCollection', properties: { email: { type: 'string' } } }, {
    'forgot.js': "if (this.password !== undefined) cancel('the password reached forgot.js');\n" +
      "dpd.outbox.post({to: this.email, user: this.id, token: token.split('').reverse().join('')});\n",
  });
  resource('outbox', { type: 'Collection', properties: { to: { type: 'string' }, user: { type: 'string' },
    token: { type: 'string' } } });
  fs.mkdirSync(path.join(dir, '.dpd'), { recursive: true });
  fs.writeFileSync(path.join(dir, '.dpd', 'keys.json'), JSON.stringify({ [KEY]: true }));
  fs.writeFileSync(path.join(dir, 'app.dpd'), '{}');
  return dir;
}

describe('password reset', () => {
  let server;
  let dir;
  const tokens = [];  // every token handed out, to look for in the database files at the end
  const outbox = async () => (await api(server, 'GET', '/outbox', undefined, root)).json
    .map((m) => ({ ...m, token: m.token.split('').reverse().join('') }));
  const clearOutbox = async () => {
    for (const m of await outbox()) await api(server, 'DELETE', `/outbox/${m.id}`, undefined, root);
  };
  const forgot = async (username) => {
    const t0 = performance.now();
    const r = await api(server, 'POST', '/users/forgot', { username });
    return { ...r, ms: performance.now() - t0 };
  };
  const tokenFor = async (username) => {
    await clearOutbox();
    assert.equal((await forgot(username)).status, 204);
    const [m] = await outbox();
    tokens.push(m.token);
    return m.token;
  };
  const login = (username, password) => api(server, 'POST', '/users/login', { username, password });

  before(async () => {
    dir = writeApp();
    server = await startDpd(dir, ['-e', 'production', '--limit', 'session.reset_token_time_ms=3000',
      '--limit', 'session.reset_attempts=100']);
    for (const name of ['alice', 'bob']) {
      const r = await api(server, 'POST', '/users', { username: name, password: `old-${name}`, email: `${name}@x` });
      assert.equal(r.status, 200, r.text);
    }
  });
  after(() => server?.stop());

  test('forgot: the same answer for known and unknown users, no event for an unknown one', async () => {
    const known = [];
    const unknown = [];
    for (let i = 0; i < 4; i++) {
      known.push(await forgot('alice'));
      unknown.push(await forgot(`nobody${i}`));
    }
    for (const r of [...known, ...unknown]) {
      assert.equal(r.status, 204);
      assert.equal(r.text, '');
      assert.ok(r.ms >= 240, `answered after ${r.ms} ms, before session.reset_answer_time_ms`);
    }
    const mean = (xs) => xs.reduce((a, r) => a + r.ms, 0) / xs.length;
    assert.ok(Math.abs(mean(known) - mean(unknown)) < 100, `known ${mean(known)} ms vs unknown ${mean(unknown)} ms`);
    const sent = await outbox();
    assert.equal(sent.length, 4, 'one token per request for the known user, none for the unknown ones');
    for (const m of sent) {
      assert.equal(m.to, 'alice@x');
      assert.match(m.token, /^[0-9a-f]{64}$/);
      tokens.push(m.token);
    }
    assert.equal(new Set(sent.map((m) => m.token)).size, 4);
    assert.equal((await api(server, 'POST', '/users/forgot', {})).status, 400);
  });

  test('reset: the new password works, the old does not, every session of the user ends', async () => {
    const s1 = (await login('alice', 'old-alice')).json.id;
    const s2 = (await login('alice', 'old-alice')).json.id;
    assert.equal((await api(server, 'GET', '/users/me', undefined, { cookie: `sid=${s1}` })).json.username, 'alice');
    const token = await tokenFor('alice');
    const r = await api(server, 'POST', '/users/reset', { token, password: 'new-alice' });
    assert.equal(r.status, 204, r.text);
    assert.equal((await login('alice', 'old-alice')).status, 401);
    assert.equal((await login('alice', 'new-alice')).status, 200);
    for (const sid of [s1, s2]) {
      assert.equal((await api(server, 'GET', '/users/me', undefined, { cookie: `sid=${sid}` })).status, 204);
    }
    // Single use.
    const again = await api(server, 'POST', '/users/reset', { token, password: 'third' });
    assert.deepEqual([again.status, again.json.message], [400, 'This reset token is invalid or has expired']);
    assert.equal((await login('alice', 'new-alice')).status, 200);
  });

  test('a wrong, malformed or expired token changes nothing', async () => {
    const wrong = await api(server, 'POST', '/users/reset', { token: 'f'.repeat(64), password: 'x' });
    assert.equal(wrong.status, 400);
    assert.equal((await api(server, 'POST', '/users/reset', { token: { $ne: null }, password: 'x' })).status, 400);
    assert.equal((await api(server, 'POST', '/users/reset', { password: 'x' })).status, 400);
    const token = await tokenFor('bob');
    await new Promise((r) => setTimeout(r, 3200));  // session.reset_token_time_ms=3000
    const late = await api(server, 'POST', '/users/reset', { token, password: 'late' });
    assert.equal(late.status, 400);
    assert.equal((await login('bob', 'old-bob')).status, 200);
    assert.equal((await login('bob', 'late')).status, 401);
  });

  test('8 concurrent resets with one token: exactly one wins', async () => {
    const token = await tokenFor('bob');
    const results = await pool(8, 8, (i) => api(server, 'POST', '/users/reset', { token, password: `race-${i}` }));
    const won = results.map((r, i) => [r.status, i]).filter(([s]) => s === 204);
    assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status)));
    assert.equal((await login('bob', `race-${won[0][1]}`)).status, 200);
  });

  test('tokens are stored only as digests: no plain token is in the database files', {
    skip: process.env.DPD_TEST_DB ? 'the files of the embedded store only' : false,
  }, async () => {
    const unused = await tokenFor('bob');
    await server.stop();  // the WAL checkpointed or not: both files are read
    const data = path.join(dir, 'data');
    const bytes = fs.readdirSync(data).map((f) => fs.readFileSync(path.join(data, f)).toString('latin1')).join('');
    assert.ok(tokens.length >= 8);
    for (const t of tokens) assert.ok(!bytes.includes(t), `token ${t.slice(0, 8)}… stored in plain`);
    const digest = crypto.createHash('sha256').update(unused).digest('hex');
    assert.ok(bytes.includes(digest), 'the unused token is there as its SHA-256');
    server = await startDpd(dir, ['-e', 'production']);
  });

  test('forgot and reset are rate-limited per address (session.reset_attempts)', async () => {
    const limited = await startDpd(writeApp(), ['-e', 'production', '--limit', 'session.reset_attempts=3',
      '--limit', 'session.reset_answer_time_ms=1']);
    try {
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await api(limited, 'POST', '/users/forgot', { username: 'x' })).status);
      assert.deepEqual(statuses, [204, 204, 204, 429, 429]);
      const r = await api(limited, 'POST', '/users/reset', { token: 'a', password: 'b' });
      assert.equal(r.status, 400, 'the reset count is its own');
    } finally {
      await limited.stop();
    }
  });
});
