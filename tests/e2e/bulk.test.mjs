// Bulk writes (issue #21 item 4, docs/bulk.md): POST of an array creates every document (events per document) in
// one transaction or none, with the errors by index; PUT with a query updates every matching document the caller
// may update, atomically per document. DPD_TEST_DB runs it on MongoDB (tests/e2e/mongo.test.mjs).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { api, pool, startDpd, tempDir } from './harness.mjs';

const KEY = 'c'.repeat(64);
const q = (o) => `?${encodeURIComponent(JSON.stringify(o))}`;

function writeApp() {
  const dir = path.join(tempDir(), 'bulk-app');
  const resource = (name, config, files = {}) => {
    fs.mkdirSync(path.join(dir, 'resources', name), { recursive: true });
    fs.writeFileSync(path.join(dir, 'resources', name, 'config.json'), JSON.stringify(config));
    for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, 'resources', name, f), text);
  };
  resource('users', { type: 'UserCollection', properties: {} });
  resource('items', { type: 'Collection', properties: {
    title: { type: 'string', required: true }, code: { type: 'string', unique: true }, n: { type: 'number' },
    group: { type: 'string' }, owner: { type: 'string' }, seen: { type: 'string' } } }, {
    // Each document's events see that document as their body; one title cancels.
    'post.js': "if (this.title === 'forbidden') cancel('not this one', 403);\nthis.seen = ctx.body.title;\n",
  });
  resource('owned', { type: 'Collection',
    properties: { owner: { type: 'string' }, n: { type: 'number' } },
    rules: { update: { owner: '$me.id' } } });
  fs.mkdirSync(path.join(dir, '.dpd'), { recursive: true });
  fs.writeFileSync(path.join(dir, '.dpd', 'keys.json'), JSON.stringify({ [KEY]: true }));
  fs.writeFileSync(path.join(dir, 'app.dpd'), '{}');
  return dir;
}

describe('bulk writes', () => {
  let server;
  const root = { 'dpd-ssh-key': KEY };
  const count = async (col, query = {}) =>
    (await api(server, 'GET', `/${col}/count${q(query)}`, undefined, root)).json.count;

  before(async () => {
    server = await startDpd(writeApp(), ['-e', 'production', '--limit', 'store.bulk_documents=50']);
  });
  after(() => server?.stop());

  test('POST of an array: every document created, events per document, one answer array', async () => {
    const r = await api(server, 'POST', '/items', [{ title: 'a', group: 'g1' }, { title: 'b', group: 'g1' },
      { title: 'c', group: 'g2' }]);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.length, 3);
    assert.deepEqual(r.json.map((d) => d.seen), ['a', 'b', 'c'], "each Post event saw its own document's body");
    assert.equal(new Set(r.json.map((d) => d.id)).size, 3);
    for (const d of r.json) assert.equal((await api(server, 'GET', `/items/${d.id}`)).json.title, d.title);
    const none = await api(server, 'POST', '/items', []);
    assert.deepEqual([none.status, none.json.message], [400, 'A bulk write needs at least one document']);
  });

  test('one invalid document: nothing is written, the errors answer by index', async () => {
    const before = await count('items');
    let r = await api(server, 'POST', '/items', [{ title: 'ok' }, { n: 1 }, { title: 'ok2' }, 'text']);
    assert.equal(r.status, 400, r.text);
    assert.deepEqual(r.json.errors, { 1: { title: 'is required' },
      3: { message: 'You must include an object when saving or updating.' } });
    assert.equal(await count('items'), before);
    // A document its event cancels: that error, with its index.
    r = await api(server, 'POST', '/items', [{ title: 'x1' }, { title: 'forbidden' }]);
    assert.equal(r.status, 403, r.text);
    assert.deepEqual([r.json.message, r.json.index], ['not this one', 1]);
    assert.equal(await count('items'), before);
  });

  test('a unique property taken, or twice in the batch: refused in the store, all rolled back', {
    skip: process.env.DPD_TEST_MONGO_DOUBLE ? 'the CongoDB test double does not enforce unique indexes' : false,
  }, async () => {
    let r;
    await api(server, 'POST', '/items', { title: 'has code', code: 'K1' });
    r = await api(server, 'POST', '/items', [{ title: 'y1', code: 'K2' }, { title: 'y2', code: 'K1' }]);
    assert.equal(r.status, 400, r.text);
    assert.deepEqual(r.json.errors, { 1: { code: 'is already in use' } });
    r = await api(server, 'POST', '/items', [{ title: 'z1', code: 'K3' }, { title: 'z2', code: 'K3' }]);
    assert.equal(r.status, 400, r.text);
    assert.deepEqual(r.json.errors, { 1: { code: 'is already in use' } });
    assert.equal(await count('items', { code: { $in: ['K2', 'K3'] } }), 0, 'nothing of either batch was kept');
  });

  test('the batch size has a limit (store.bulk_documents)', async () => {
    const before = await count('items');
    const r = await api(server, 'POST', '/items', Array.from({ length: 51 }, (_, i) => ({ title: `t${i}` })));
    assert.equal(r.status, 400);
    assert.match(r.json.message, /at most 50 documents \(store\.bulk_documents\)/);
    assert.equal(await count('items'), before);
    assert.equal((await api(server, 'POST', '/items', Array.from({ length: 50 }, (_, i) => ({ title: `t${i}` }))))
      .json.length, 50);
  });

  test('a users collection takes one user per POST (root may post several)', async () => {
    const r = await api(server, 'POST', '/users', [{ username: 'u1', password: 'p' }]);
    assert.equal(r.status, 400);
    assert.equal((await api(server, 'GET', '/users', undefined, root)).json.length, 0);
    const ok = await api(server, 'POST', '/users', [{ username: 'u1', password: 'p' }, { username: 'u2', password: 'p' }],
      root);
    assert.equal(ok.status, 200, ok.text);
    assert.ok(!ok.text.includes('password'));
  });

  test('PUT with a query updates every match, atomically per document; 16 at once all count', async () => {
    const made = await api(server, 'POST', '/items', Array.from({ length: 10 }, (_, i) => (
      { title: `m${i}`, group: i < 6 ? 'many' : 'other', n: 0 })));
    assert.equal(made.status, 200);
    let r = await api(server, 'PUT', `/items${q({ group: 'many' })}`, { n: { $inc: 1 } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { count: 6 });
    const results = await pool(16, 16, () => api(server, 'PUT', `/items${q({ group: 'many' })}`, { n: { $inc: 1 } }));
    for (const x of results) assert.deepEqual(x.json, { count: 6 });
    const docs = (await api(server, 'GET', `/items${q({ group: { $in: ['many', 'other'] } })}`)).json;
    for (const d of docs) assert.equal(d.n, d.group === 'many' ? 17 : 0, `${d.title}: ${d.n}`);
    // An invalid change is reported per document; the others are updated.
    r = await api(server, 'PUT', `/items${q({ group: 'other' })}`, { title: '' });
    assert.equal(r.json.count, 0);
    assert.equal(Object.keys(r.json.failed).length, 4);
    assert.deepEqual(Object.values(r.json.failed)[0].errors, { title: 'is required' });
  });

  test('PUT with a query under an update rule touches only what the caller may update', async () => {
    const users = {};
    for (const who of ['A', 'B']) {
      const u = await api(server, 'POST', '/users', { username: `bulk${who}`, password: 'pw' });
      const login = await api(server, 'POST', '/users/login', { username: `bulk${who}`, password: 'pw' });
      users[who] = { id: u.json.id, headers: { cookie: `sid=${login.json.id}` } };
      await api(server, 'POST', '/owned', [{ owner: u.json.id, n: 0 }, { owner: u.json.id, n: 0 }], root);
    }
    const r = await api(server, 'PUT', `/owned${q({ n: 0 })}`, { n: 5 }, users.A.headers);
    assert.deepEqual(r.json, { count: 2 });
    const all = (await api(server, 'GET', '/owned')).json;
    for (const d of all) assert.equal(d.n, d.owner === users.A.id ? 5 : 0);
    const give = await api(server, 'PUT', `/owned${q({ n: 5 })}`, { owner: users.B.id }, users.A.headers);
    assert.equal(give.json.count, 0, 'moving them out of reach is refused per document');
    // A guest owns nothing: the rule's query matches no document for it.
    assert.deepEqual((await api(server, 'PUT', `/owned${q({ n: 0 })}`, { n: 1 })).json, { count: 0 });
    assert.equal((await api(server, 'GET', `/owned/count${q({ n: 1 })}`, undefined, root)).json.count, 0);
  });
});
