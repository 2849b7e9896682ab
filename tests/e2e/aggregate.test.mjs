// Aggregation (issue #21 item 3, docs/aggregate.md): GET /<col>/aggregate?[pipeline] — $match, $group with $sum,
// $avg, $min, $max, $count, then $sort, $skip, $limit — shaped as MongoDB answers; the list rule merged into it;
// limits; dpd.<col>.aggregate in event scripts; and the same random pipelines answered alike by the SQLite store and
// the MongoDB store (on the CongoDB test double, tests/mongo/congo.mjs), on the same random data.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { api, startCongo, startDpd, tempDir } from './harness.mjs';

const KEY = 'a'.repeat(64);
const root = { 'dpd-ssh-key': KEY };
const agg = (pipeline) => `?${encodeURIComponent(JSON.stringify(pipeline))}`;

function writeApp() {
  const dir = path.join(tempDir(), 'aggregate-app');
  const resource = (name, config, files = {}) => {
    fs.mkdirSync(path.join(dir, 'resources', name), { recursive: true });
    fs.writeFileSync(path.join(dir, 'resources', name, 'config.json'), JSON.stringify(config));
    for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, 'resources', name, f), text);
  };
  resource('users', { type: 'UserCollection', properties: { secret: { type: 'string' } } });
  const props = { kind: { type: 'string' }, n: { type: 'number' }, shop: { type: 'object' },
    done: { type: 'boolean' }, owner: { type: 'string' } };
  resource('sales', { type: 'Collection', properties: props, rules: { list: 'public' } });
  // No list rule: a Get script may hide what a sum would tell, so only root aggregates.
  resource('closed', { type: 'Collection', properties: props }, { 'get.js': "if (!me) hide('n');\n" });
  resource('owned', { type: 'Collection', properties: props, rules: { list: { owner: '$me.id' } } });
  // An event script aggregating another collection through dpd.<col>.aggregate.
  resource('reports', { type: 'Collection', properties: { name: { type: 'string' } } }, {
    'get.js': "dpd.sales.aggregate([{$group: {_id: null, total: {$sum: '$n'}, docs: {$count: {}}}}], " +
      'function (r, err) { this.summary = err ? err : r[0]; });\n',
  });
  fs.mkdirSync(path.join(dir, '.dpd'), { recursive: true });
  fs.writeFileSync(path.join(dir, '.dpd', 'keys.json'), JSON.stringify({ [KEY]: true }));
  fs.writeFileSync(path.join(dir, 'app.dpd'), '{}');
  return dir;
}

// What MongoDB answers for a $group by `key` (a function of the document; undefined = missing) — computed here in
// plain JavaScript, the reference for the SQLite store.
function reference(docs, key, outputs) {
  const groups = new Map();
  for (const d of docs) {
    const k = key(d);
    const id = k === undefined ? null : k;
    const sig = JSON.stringify(id);
    if (!groups.has(sig)) groups.set(sig, { _id: id, docs: [] });
    groups.get(sig).docs.push(d);
  }
  return [...groups.values()].map((g) => {
    const out = { _id: g._id };
    for (const [name, f] of Object.entries(outputs)) out[name] = f(g.docs);
    return out;
  });
}
const nums = (docs, f) => docs.map(f).filter((v) => typeof v === 'number');

describe('aggregation', () => {
  let server;
  let docs;
  before(async () => {
    server = await startDpd(writeApp());
    docs = [];
    const kinds = ['apple', 'pear', 'fig'];
    for (let i = 0; i < 60; i++) {
      const d = { kind: kinds[i % 3], n: i % 7 === 0 ? undefined : i, done: i % 2 === 0, owner: i < 20 ? 'A' : 'B' };
      if (i % 5 !== 0) d.shop = { city: i % 4 === 0 ? 'oslo' : 'rome' };
      if (d.n === undefined) delete d.n;
      docs.push(d);
    }
    const r = await api(server, 'POST', '/sales', docs, root);
    assert.equal(r.status, 200, r.text);
    assert.equal((await api(server, 'POST', '/closed', docs.slice(0, 5), root)).status, 200);
  });
  after(async () => { await server.stop(); });

  test('a $group by a field with every accumulator, shaped and ordered as MongoDB answers', async () => {
    const pipeline = [{ $group: { _id: '$kind', total: { $sum: '$n' }, avg: { $avg: '$n' }, lo: { $min: '$n' },
      hi: { $max: '$n' }, docs: { $count: {} }, ones: { $sum: 1 } } }];
    const r = await api(server, 'GET', `/sales/aggregate${agg(pipeline)}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('content-type'), 'application/json');
    const expected = reference(docs, (d) => d.kind, {
      total: (g) => nums(g, (d) => d.n).reduce((a, b) => a + b, 0),
      avg: (g) => { const v = nums(g, (d) => d.n); return v.reduce((a, b) => a + b, 0) / v.length; },
      lo: (g) => Math.min(...nums(g, (d) => d.n)),
      hi: (g) => Math.max(...nums(g, (d) => d.n)),
      docs: (g) => g.length,
      ones: (g) => g.length,
    }).sort((a, b) => (a._id < b._id ? -1 : 1));  // without $sort: by _id ascending
    assert.deepEqual(r.json, expected);
    assert.deepEqual(Object.keys(r.json[0]), ['_id', 'total', 'avg', 'lo', 'hi', 'docs', 'ones'], 'the pipeline\'s order');
  });

  test('$match, $sort on an output, $skip and $limit; a null _id; an object _id; a nested field', async () => {
    let r = await api(server, 'GET', `/sales/aggregate${agg([{ $match: { done: true, n: { $gte: 10 } } },
      { $group: { _id: '$kind', total: { $sum: '$n' } } }, { $sort: { total: -1 } }, { $skip: 1 }, { $limit: 1 }])}`);
    const byKind = reference(docs.filter((d) => d.done && d.n >= 10), (d) => d.kind,
      { total: (g) => g.reduce((a, d) => a + d.n, 0) }).sort((a, b) => b.total - a.total);
    assert.deepEqual(r.json, [byKind[1]]);
    r = await api(server, 'GET', `/sales/aggregate${agg([{ $group: { _id: null, c: { $count: {} } } }])}`);
    assert.deepEqual(r.json, [{ _id: null, c: 60 }]);
    r = await api(server, 'GET', `/sales/aggregate${agg([{ $match: { kind: 'none' } }, { $group: { _id: null, c: { $count: {} } } }])}`);
    assert.deepEqual(r.json, [], 'no documents make no group');
    r = await api(server, 'GET', `/sales/aggregate${agg([{ $group: { _id: { k: '$kind', d: '$done' }, c: { $count: {} } } },
      { $sort: { '_id.d': -1, '_id.k': 1 } }])}`);
    assert.deepEqual(r.json.slice(0, 2), [{ _id: { k: 'apple', d: true }, c: 10 }, { _id: { k: 'fig', d: true }, c: 10 }]);
    assert.equal(r.json.length, 6);
    r = await api(server, 'GET', `/sales/aggregate${agg([{ $group: { _id: '$shop.city', c: { $count: {} } } }])}`);
    assert.deepEqual(r.json, [{ _id: null, c: 12 }, { _id: 'oslo', c: 12 }, { _id: 'rome', c: 36 }], 'missing groups as null, first');
  });

  test('the pipeline as ?[…], as ?pipeline=<JSON> and as {"pipeline": […]}', async () => {
    const pipeline = [{ $group: { _id: '$done', c: { $count: {} } } }];
    const want = [{ _id: false, c: 30 }, { _id: true, c: 30 }];
    assert.deepEqual((await api(server, 'GET', `/sales/aggregate${agg(pipeline)}`)).json, want);
    assert.deepEqual((await api(server, 'GET', `/sales/aggregate?pipeline=${encodeURIComponent(JSON.stringify(pipeline))}`)).json, want);
    assert.deepEqual((await api(server, 'GET', `/sales/aggregate${agg({ pipeline })}`)).json, want);
  });

  test('bad pipelines are 400s with Deployd\'s error shape, and the server keeps answering', async () => {
    const cases = [
      [[{ $lookup: { from: 'users' } }], /Unsupported aggregation stage "\$lookup"/],
      [[{ $out: 'x' }], /Unsupported aggregation stage "\$out"/],
      [[{ $group: { _id: '$kind', all: { $push: '$n' } } }], /Unsupported accumulator "\$push"/],
      [[{ $group: { _id: '$nope' } }], /"nope" is not a property/],
      [[{ $match: { $where: 'sleep(1)' } }, { $group: { _id: null } }], /unsupported query operator "\$where"/],
      [[], /needs a \$group stage/],
      [{ notAnArray: 1 }, /takes its pipeline as a JSON array/],
      [[{ $group: { _id: '$kind' } }, { $limit: -1 }], /\$limit needs a positive integer/],
      [Array.from({ length: 9 }, () => ({ $skip: 1 })), /at most 8 stages/],
    ];
    for (const [pipeline, message] of cases) {
      const r = await api(server, 'GET', `/sales/aggregate${agg(pipeline)}`);
      assert.equal(r.status, 400, `${JSON.stringify(pipeline)}: ${r.text}`);
      assert.match(r.json.message, message);
      assert.equal(r.json.status, 400);
    }
    let r = await api(server, 'GET', '/sales/aggregate?%5Bnot json%5D');
    assert.equal(r.status, 400);
    r = await api(server, 'GET', '/sales/aggregate');
    assert.equal(r.status, 400);
    // Only GET aggregates; a document may not be called "aggregate" by a PUT either way.
    assert.equal((await api(server, 'GET', '/sales?kind=fig')).json.length, 20, 'the server still answers');
  });

  test('a password is never aggregated, not even by root', async () => {
    await api(server, 'POST', '/users', { username: 'agg-u', password: 'pw-123456' });
    for (const headers of [{}, root]) {
      const r = await api(server, 'GET', `/users/aggregate${agg([{ $group: { _id: null, m: { $max: '$password' } } }])}`, undefined, headers);
      assert.ok(r.status === 400 || r.status === 403, r.text);
      assert.doesNotMatch(r.text, /\$argon|pw-123456/);
    }
  });

  test('access: without a list rule only root; with an owner rule each caller\'s own documents only', async () => {
    const pipeline = [{ $group: { _id: null, total: { $sum: '$n' }, c: { $count: {} } } }];
    let r = await api(server, 'GET', `/closed/aggregate${agg(pipeline)}`);
    assert.equal(r.status, 403);
    assert.match(r.json.message, /Must be root to aggregate/);
    r = await api(server, 'GET', `/closed/aggregate${agg(pipeline)}`, undefined, root);
    assert.equal(r.status, 200);
    assert.equal(r.json[0].c, 5);

    await api(server, 'POST', '/users', { username: 'agg-a', password: 'pw-aaaaaa' });
    await api(server, 'POST', '/users', { username: 'agg-b', password: 'pw-bbbbbb' });
    const login = async (u, p) => {
      const l = await api(server, 'POST', '/users/login', { username: u, password: p });
      return { me: l.json.uid, headers: { cookie: `sid=${l.json.id}` } };
    };
    const a = await login('agg-a', 'pw-aaaaaa');
    const b = await login('agg-b', 'pw-bbbbbb');
    const mine = docs.map((d, i) => ({ ...d, owner: i < 10 ? a.me : b.me }));
    assert.equal((await api(server, 'POST', '/owned', mine, root)).status, 200);
    r = await api(server, 'GET', `/owned/aggregate${agg(pipeline)}`);
    assert.equal(r.status, 200, 'a guest lists nothing under an owner rule, and so groups nothing');
    assert.deepEqual(r.json, []);
    for (const [who, count] of [[a, 10], [b, 50]]) {
      r = await api(server, 'GET', `/owned/aggregate${agg([{ $group: { _id: '$owner', c: { $count: {} } } }])}`, undefined, who.headers);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, [{ _id: who.me, c: count }], 'only the caller\'s own documents are grouped');
    }
  });

  test('dpd.<col>.aggregate in an event script', async () => {
    await api(server, 'POST', '/reports', { name: 'q1' }, root);
    const r = await api(server, 'GET', '/reports');
    assert.equal(r.status, 200, r.text);
    const total = docs.reduce((s, d) => s + (d.n ?? 0), 0);
    assert.deepEqual(r.json[0].summary, { _id: null, total, docs: 60 });
  });

  test('query.aggregate_groups: more groups than the limit is a 400, never a truncated answer', async () => {
    const small = await startDpd(writeApp(), ['--limit', 'query.aggregate_groups=5']);
    try {
      await api(small, 'POST', '/sales', docs, root);
      let r = await api(small, 'GET', `/sales/aggregate${agg([{ $group: { _id: '$n' } }])}`);
      assert.equal(r.status, 400);
      assert.match(r.json.message, /more than 5 groups/);
      r = await api(small, 'GET', `/sales/aggregate${agg([{ $group: { _id: '$kind' } }])}`);
      assert.equal(r.status, 200);
      assert.equal(r.json.length, 3);
    } finally {
      await small.stop();
    }
  });
});

// Random data, random pipelines: the SQLite store and the MongoDB store (CongoDB's aggregation, which is mingo's)
// must answer every one alike. Strings are lower-case ASCII and numbers halves (the double's string order and
// float summation would otherwise differ for reasons of its own, not dpd's).
describe('aggregation: SQLite and MongoDB agree (differential)', { skip: process.env.DPD_TEST_DB ? 'runs its own stores' : false }, () => {
  let congo;
  let lite;
  let mongo;
  before(async () => {
    congo = await startCongo();
    lite = await startDpd(writeApp());
    mongo = await startDpd(writeApp(), ['--db', `mongodb://127.0.0.1:${congo.port}/agg${process.pid}`]);
  });
  after(async () => {
    await lite?.stop();
    await mongo?.stop();
    await congo?.stop();
  });

  test('300 random pipelines over 400 random documents', async () => {
    let seed = 42;
    const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
    const pick = (a) => a[Math.floor(rand() * a.length)];
    const docs = [];
    for (let i = 0; i < 400; i++) {
      const d = { kind: pick(['a', 'b', 'c', 'd', 'e']), done: rand() < 0.5, owner: pick(['x', 'y']) };
      const r = rand();
      if (r < 0.8) d.n = Math.round(rand() * 200 - 50) / 2;
      else if (r < 0.9) d.n = null;
      if (rand() < 0.7) d.shop = { city: pick(['oslo', 'rome', 'lima']), size: Math.floor(rand() * 4) };
      docs.push(d);
    }
    for (const s of [lite, mongo]) assert.equal((await api(s, 'POST', '/sales', docs, root)).status, 200);

    const fields = ['$kind', '$done', '$owner', '$shop.city', '$shop.size', '$n'];
    const numeric = ['$n', '$shop.size'];
    let compared = 0;
    for (let i = 0; i < 300; i++) {
      const pipeline = [];
      if (rand() < 0.5) {
        pipeline.push({ $match: pick([{ done: true }, { n: { $gt: 10 } }, { kind: { $in: ['a', 'c'] } },
          { $or: [{ owner: 'x' }, { n: { $lt: 0 } }] }, { 'shop.city': 'rome' }]) });
      }
      const group = {};
      const idKind = rand();
      if (idKind < 0.15) group._id = null;
      else if (idKind < 0.75) group._id = pick(fields);
      else group._id = { k: pick(['$kind', '$owner']), d: '$done' };
      const outputs = [];
      const nOut = 1 + Math.floor(rand() * 4);
      for (let j = 0; j < nOut; j++) {
        const name = `o${j}`;
        const op = pick(['$sum', '$avg', '$min', '$max', '$count', '$sum1']);
        if (op === '$count') group[name] = { $count: {} };
        else if (op === '$sum1') group[name] = { $sum: 1 };
        else group[name] = { [op]: pick(numeric) };
        outputs.push(name);
      }
      pipeline.push({ $group: group });
      if (rand() < 0.6) {
        const key = pick([...outputs, '_id']);
        pipeline.push({ $sort: { [key]: rand() < 0.5 ? 1 : -1 } });
      }
      if (rand() < 0.3) pipeline.push({ $skip: Math.floor(rand() * 3) });
      if (rand() < 0.4) pipeline.push({ $limit: 1 + Math.floor(rand() * 5) });
      const [x, y] = await Promise.all([lite, mongo].map((s) => api(s, 'GET', `/sales/aggregate${agg(pipeline)}`, undefined, root)));
      assert.equal(x.status, 200, `SQLite: ${JSON.stringify(pipeline)} → ${x.text}`);
      assert.equal(y.status, 200, `MongoDB: ${JSON.stringify(pipeline)} → ${y.text}`);
      assert.deepEqual(y.json, x.json, `the stores disagree on ${JSON.stringify(pipeline)}`);
      compared += x.json.length;
    }
    assert.ok(compared > 300, `${compared} groups compared`);
  });
});
