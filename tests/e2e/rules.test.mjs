// Access rules (issue #21 item 1, docs/rules.md): a collection's "rules" merge into every read and guard every write.
// The matrix calls each operation as a guest, user A, user B and root on collections with an owner rule, keyword
// rules and no rules, checks every refused write against the database, and races 32 clients against the owner
// rule. DPD_TEST_DB runs it on MongoDB (tests/e2e/mongo.test.mjs).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { api, pool, startDpd, tempDir } from './harness.mjs';

const KEY = 'b'.repeat(64);
const OWNER_RULE = { $or: [{ public: true }, { owner: '$me.id' }] };

function writeApp() {
  const dir = path.join(tempDir(), 'rules-app');
  const resource = (name, config) => {
    fs.mkdirSync(path.join(dir, 'resources', name), { recursive: true });
    fs.writeFileSync(path.join(dir, 'resources', name, 'config.json'), JSON.stringify(config));
  };
  const props = { title: { type: 'string' }, owner: { type: 'string' }, public: { type: 'boolean' },
    hits: { type: 'number' } };
  resource('users', { type: 'UserCollection', properties: { role: { type: 'string' } },
    rules: { list: 'users' } });
  resource('notes', { type: 'Collection', properties: props, rules: {
    list: OWNER_RULE, get: OWNER_RULE, create: { owner: '$me.id' }, update: { owner: '$me.id' },
    delete: { owner: '$me.id' }, count: 'users' } });
  resource('board', { type: 'Collection', properties: props,
    rules: { list: 'public', create: 'users', update: 'root', delete: 'root', count: 'public' } });
  resource('plain', { type: 'Collection', properties: props });
  resource('broken', { type: 'Collection', properties: props, rules: { list: { ownr: '$me.id' } } });
  fs.mkdirSync(path.join(dir, '.dpd'), { recursive: true });
  fs.writeFileSync(path.join(dir, '.dpd', 'keys.json'), JSON.stringify({ [KEY]: true }));
  fs.writeFileSync(path.join(dir, 'app.dpd'), '{}');
  return dir;
}

describe('access rules', () => {
  let server;
  const as = { guest: {}, root: { 'dpd-ssh-key': KEY } };
  const uid = {};
  const note = {};  // A's private, A's public, B's private
  const rootGet = async (p) => (await api(server, 'GET', p, undefined, as.root)).json;

  before(async () => {
    server = await startDpd(writeApp(), ['-e', 'production']);
    for (const who of ['A', 'B']) {
      const u = await api(server, 'POST', '/users', { username: `user${who}`, password: `pw-${who}` });
      assert.equal(u.status, 200, u.text);
      uid[who] = u.json.id;
      const login = await api(server, 'POST', '/users/login', { username: `user${who}`, password: `pw-${who}` });
      as[who] = { cookie: `sid=${login.json.id}` };
    }
    for (const [k, who, pub] of [['aPrivate', 'A', false], ['aPublic', 'A', true], ['bPrivate', 'B', false]]) {
      const r = await api(server, 'POST', '/notes', { title: k, owner: uid[who], public: pub, hits: 0 }, as[who]);
      assert.equal(r.status, 200, r.text);
      note[k] = r.json.id;
    }
  });
  after(() => server?.stop());

  test('a list returns exactly what the rule lets each caller see', async () => {
    const want = { guest: ['aPublic'], A: ['aPrivate', 'aPublic'], B: ['aPublic', 'bPrivate'],
      root: ['aPrivate', 'aPublic', 'bPrivate'] };
    for (const [who, titles] of Object.entries(want)) {
      const r = await api(server, 'GET', '/notes', undefined, as[who]);
      assert.equal(r.status, 200, `${who}: ${r.text}`);
      assert.deepEqual(r.json.map((n) => n.title).sort(), titles, who);
      // A client's own query narrows further; it can never widen the rule ($or at the top is ANDed with it).
      const q = encodeURIComponent(JSON.stringify({ $or: [{ owner: uid.A }, { owner: uid.B }] }));
      const widened = await api(server, 'GET', `/notes?${q}`, undefined, as[who]);
      assert.ok(widened.json.every((n) => titles.includes(n.title)), `${who} widened to ${widened.text}`);
    }
  });

  test('by id: hidden documents are 404, as if they did not exist', async () => {
    const cases = [['aPrivate', { guest: 404, A: 200, B: 404, root: 200 }],
      ['aPublic', { guest: 200, A: 200, B: 200, root: 200 }], ['bPrivate', { guest: 404, A: 404, B: 200, root: 200 }]];
    for (const [k, expect] of cases) {
      for (const [who, status] of Object.entries(expect)) {
        const r = await api(server, 'GET', `/notes/${note[k]}`, undefined, as[who]);
        assert.equal(r.status, status, `${who} GET ${k}: ${r.text}`);
      }
    }
  });

  test('count follows the count rule and counts only what the caller may list', async () => {
    const guest = await api(server, 'GET', '/notes/count');
    assert.equal(guest.status, 401);
    assert.equal(guest.json.status, 401);
    assert.equal((await api(server, 'GET', '/notes/count', undefined, as.A)).json.count, 2);
    assert.equal((await api(server, 'GET', '/notes/count', undefined, as.B)).json.count, 2);
    assert.equal((await api(server, 'GET', '/notes/count', undefined, as.root)).json.count, 3);
    const q = encodeURIComponent(JSON.stringify({ public: false }));
    assert.equal((await api(server, 'GET', `/notes/count?${q}`, undefined, as.A)).json.count, 1);
    // A public count rule; and without a rule, Deployd's root-only count.
    assert.equal((await api(server, 'GET', '/board/count')).status, 200);
    const plain = await api(server, 'GET', '/plain/count', undefined, as.A);
    assert.deepEqual([plain.status, plain.json.message], [403, 'Must be root to count']);
  });

  test('create: only as yourself; a refused create writes nothing', async () => {
    const expect = { guest: 401, A: 200, B: 403, root: 200 };
    for (const [who, status] of Object.entries(expect)) {
      const r = await api(server, 'POST', '/notes', { title: `by-${who}`, owner: uid.A }, as[who]);
      assert.equal(r.status, status, `${who}: ${r.text}`);
      if (status !== 200) assert.deepEqual(Object.keys(r.json).sort(), ['message', 'status', 'statusCode']);
    }
    const titles = (await rootGet('/notes')).map((n) => n.title);
    for (const who of ['guest', 'B']) assert.ok(!titles.includes(`by-${who}`), `${who}'s refused create was stored`);
    assert.equal((await api(server, 'POST', '/board', { title: 'hi' })).status, 401);
    assert.equal((await api(server, 'POST', '/board', { title: 'hi' }, as.B)).status, 200);
  });

  test("update: only the owner, and never into someone else's hands", async () => {
    const expect = { guest: 401, B: 403, A: 200, root: 200 };
    for (const [who, status] of Object.entries(expect)) {
      const r = await api(server, 'PUT', `/notes/${note.aPrivate}`, { title: `edited-by-${who}` }, as[who]);
      assert.equal(r.status, status, `${who}: ${r.text}`);
      const stored = await rootGet(`/notes/${note.aPrivate}`);
      if (status !== 200) assert.notEqual(stored.title, `edited-by-${who}`, `${who}'s refused update was stored`);
      else assert.equal(stored.title, `edited-by-${who}`);
    }
    const give = await api(server, 'PUT', `/notes/${note.aPrivate}`, { owner: uid.B }, as.A);
    assert.equal(give.status, 403, give.text);
    assert.equal((await rootGet(`/notes/${note.aPrivate}`)).owner, uid.A);
    // Even a public note (visible to B) is not B's to edit; board's update is root only.
    assert.equal((await api(server, 'PUT', `/notes/${note.aPublic}`, { title: 'x' }, as.B)).status, 403);
    const post = (await api(server, 'GET', '/board', undefined, as.B)).json[0];
    assert.equal((await api(server, 'PUT', `/board/${post.id}`, { title: 'x' }, as.B)).status, 403);
    assert.equal((await api(server, 'PUT', `/board/${post.id}`, { title: 'x' }, as.root)).status, 200);
  });

  test('delete: refused alone, skipped in a query; a refused delete removes nothing', async () => {
    const extra = {};
    for (const who of ['A', 'B']) {
      extra[who] = (await api(server, 'POST', '/notes', { title: `gone-${who}`, owner: uid[who] }, as[who])).json.id;
    }
    assert.equal((await api(server, 'DELETE', `/notes/${extra.A}`)).status, 401);
    assert.equal((await api(server, 'DELETE', `/notes/${extra.A}`, undefined, as.B)).status, 403);
    assert.ok(await rootGet(`/notes/${extra.A}`), "A's note survived B's delete");
    // A query naming both: B removes only B's.
    const q = encodeURIComponent(JSON.stringify({ id: { $in: [extra.A, extra.B] } }));
    const r = await api(server, 'DELETE', `/notes?${q}`, undefined, as.B);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.count, 1);
    assert.ok(await rootGet(`/notes/${extra.A}`));
    assert.equal((await api(server, 'GET', `/notes/${extra.B}`, undefined, as.root)).status, 404);
    assert.equal((await api(server, 'DELETE', `/notes/${extra.A}`, undefined, as.A)).status, 200);
  });

  test('32 concurrent clients: no write the rule forbids lands', async () => {
    const target = (await api(server, 'POST', '/notes', { title: 'raced', owner: uid.A, hits: 0 }, as.A)).json.id;
    // A's clients count hits and try to hand the note to B; B's clients try to take it or edit it.
    const attempts = Array.from({ length: 96 }, (_, i) => [
      ['A', { hits: { $inc: 1 } }], ['A', { owner: uid.B }], ['B', { owner: uid.B }], ['B', { title: 'stolen' }],
    ][i % 4]);
    const results = await pool(attempts.length, 32, async (i) => {
      const [who, body] = attempts[i];
      return [who, body, (await api(server, 'PUT', `/notes/${target}`, body, as[who])).status];
    });
    let incs = 0;
    for (const [who, body, status] of results) {
      if (body.hits) { assert.equal(status, 200); incs += 1; continue; }
      assert.equal(status, 403, `${who} ${JSON.stringify(body)} answered ${status}`);
    }
    const stored = await rootGet(`/notes/${target}`);
    assert.equal(stored.owner, uid.A);
    assert.equal(stored.title, 'raced');
    assert.equal(stored.hits, incs, 'every acknowledged $inc counted');
  });

  test('a users collection takes rules too', async () => {
    assert.equal((await api(server, 'GET', '/users')).status, 401);
    const r = await api(server, 'GET', '/users', undefined, as.A);
    assert.equal(r.status, 200);
    assert.equal(r.json.length, 2);
    assert.ok(!r.text.includes('password'));
    assert.equal((await api(server, 'GET', '/users/me', undefined, as.A)).json.username, 'userA');
  });

  test('/__resources refuses a bad rule before writing, and a good one is live at once', async () => {
    const bad = await api(server, 'POST', '/__resources/memos',
      { type: 'Collection', properties: { owner: { type: 'string' } }, rules: { update: { ownr: '$me.id' } } }, as.root);
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.json.message, /rules\.update: "ownr" is not a property/);
    assert.equal((await api(server, 'GET', '/memos')).status, 404, 'nothing was written');
    const good = await api(server, 'POST', '/__resources/memos',
      { type: 'Collection', properties: { owner: { type: 'string' } }, rules: { list: 'users' } }, as.root);
    assert.equal(good.status, 200, good.text);
    assert.equal((await api(server, 'GET', '/memos')).status, 401);
    assert.equal((await api(server, 'GET', '/memos', undefined, as.A)).status, 200);
    await api(server, 'DELETE', '/__resources/memos', undefined, as.root);
  });

  test('a collection whose rules do not load is not served (closed, never open) and says why', async () => {
    assert.equal((await api(server, 'GET', '/broken')).status, 404);
    assert.match(server.stderr(), /resources\/broken\/config\.json: rules\.list: "ownr" is not a property/);
  });
});
