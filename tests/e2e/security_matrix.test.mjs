// The security matrix from outside (issue #19 item 5, RELIABILITY.md "no auth bypass"): every route of a sample app
// — a collection guarded by owner scripts, the users collection, a custom resource type, /__resources, the
// dashboard, /__metrics, static files, /dpd.js, socket.io and the performance feed — called as a guest, user A,
// user B, root and a wrong key, in development and in production, and each answer compared with the table below.
// Any answer that differs fails; MATRIX_PRINT=1 prints what was seen, row by row, for reviewing a deliberate change.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { io as io4 } from 'socket.io-client';
import { api, copyFixture, startDpd } from './harness.mjs';

const KEY = 'a'.repeat(64);
const WHO = ['guest', 'A', 'B', 'root', 'wrong'];

// route → expected status per principal, as [guest, A, B, root, wrong key]; `prod` overrides for production (where a
// wrong key is nobody; in development any key is root, as in Deployd, and dpd listens on loopback only there).
// `:a` / `:b` are A's and B's todo, `:ua` user A's id. `data(ctx, who, r)` then reads the data back and returns what
// is wrong with it: a refusal must have written nothing, and a 200 may still leave a protected field alone.
const ROOTS = (env) => (env === 'production' ? ['root'] : ['root', 'wrong']);
const as = (ctx, who) => ctx.headers[who];
const readA = async (ctx) => (await api(ctx.server, 'GET', `/todos/${ctx.ids[':a']}`, undefined, as(ctx, 'A'))).json;
const loginWorks = async (ctx, username, password) =>
  (await api(ctx.server, 'POST', '/users/login', { username, password })).status === 200;
const ROUTES = [
  // The collection: todos/get.js lets only the owner see a todo, post.js needs a user, put/delete.js the owner.
  { name: 'list todos', req: ['GET', '/todos'], dev: [200, 200, 200, 200, 200],
    data: (ctx, who, r) => {
      const want = who === 'A' ? [ctx.ids[':a']] : who === 'B' ? [ctx.ids[':b']] : [];
      if (JSON.stringify(r.json.map((t) => t.id)) !== JSON.stringify(want)) return `saw ${r.text}`;
      if (r.text.includes('secret')) return 'a hidden field left the server';
    } },
  { name: "read A's todo", req: ['GET', '/todos/:a'], dev: [403, 200, 403, 403, 403],
    data: (ctx, who, r) => (r.status === 200 && r.text.includes('secret') ? 'a hidden field left the server' : undefined) },
  { name: 'create a todo', req: ['POST', '/todos', { title: 't', owner: ':ub' }], dev: [401, 200, 200, 401, 401],
    data: (ctx, who, r) => (r.status === 200 && r.json.owner !== ctx.ids[`:u${who.toLowerCase()}`] ? `owner ${r.json.owner}` : undefined) },
  { name: "edit A's todo", req: ['PUT', '/todos/:a', { title: 'changed' }], dev: [403, 200, 403, 403, 403],
    data: async (ctx, who) => (((await readA(ctx)).title === 'changed') !== (who === 'A') ? 'title' : undefined) },
  { name: "give A's todo away", req: ['PUT', '/todos/:a', { owner: ':ub' }], dev: [403, 200, 403, 403, 403],
    data: async (ctx) => ((await readA(ctx))?.owner !== ctx.ids[':ua'] ? 'the owner changed' : undefined) },
  { name: "delete B's todo", req: ['DELETE', '/todos/:b'], dev: [403, 403, 200, 403, 403],
    data: async (ctx, who) => {
      const r = await api(ctx.server, 'GET', `/todos/${ctx.ids[':b']}`, undefined, as(ctx, 'B'));
      return (r.status === 404) !== (who === 'B') ? `B's todo answers ${r.status}` : undefined;
    } },
  { name: 'count todos', req: ['GET', '/todos/count'], dev: [403, 403, 403, 200, 200], prod: [403, 403, 403, 200, 403] },
  // Aggregation reads past todos/get.js, so without a list rule only root aggregates (issue #21, docs/aggregate.md).
  { name: 'aggregate todos', req: ['GET', `/todos/aggregate?${encodeURIComponent('[{"$group":{"_id":"$owner","n":{"$count":{}}}}]')}`],
    dev: [403, 403, 403, 200, 200], prod: [403, 403, 403, 200, 403] },
  { name: 'aggregate password hashes', req: ['GET', `/users/aggregate?${encodeURIComponent('[{"$group":{"_id":null,"m":{"$max":"$password"}}}]')}`],
    dev: [403, 403, 403, 400, 400], prod: [403, 403, 403, 400, 403],
    data: (ctx, who, r) => (/argon|\$2|"m"/.test(r.text) ? 'a hash left the server' : undefined) },
  { name: 'rename a field', req: ['POST', '/todos/rename', { properties: { title: 'name' } }],
    dev: [403, 403, 403, 200, 200], prod: [403, 403, 403, 200, 403],
    data: async (ctx, who, r, env) => (('title' in (await readA(ctx))) === ROOTS(env).includes(who) ? 'rename' : undefined) },
  { name: 'PATCH a todo', req: ['PATCH', '/todos/:a', { title: 'x' }], dev: [405, 405, 405, 405, 405] },
  // Users. Without a users/put.js or delete.js the app leaves them open, as Deployd does (issue #21 adds rules);
  // what dpd itself guards is the credentials: only the user's own session or root changes a username or password.
  { name: 'list users', req: ['GET', '/users'], dev: [200, 200, 200, 200, 200],
    data: (ctx, who, r) => (r.text.includes('password') || r.json.length !== 2 ? r.text : undefined) },
  { name: 'who am I', req: ['GET', '/users/me'], dev: [204, 200, 200, 204, 204],
    data: (ctx, who, r) => (r.status === 200 && r.json.username !== `user${who}` ? r.text : undefined) },
  { name: 'read user A', req: ['GET', '/users/:ua'], dev: [200, 200, 200, 200, 200],
    data: (ctx, who, r) => (r.text.includes('password') ? 'the hash left the server' : undefined) },
  { name: 'rename user A', req: ['PUT', '/users/:ua', { username: 'mallory' }], dev: [200, 200, 200, 200, 200],
    data: async (ctx, who, r, env) => {
      const allowed = who === 'A' || ROOTS(env).includes(who);
      const name = (await api(ctx.server, 'GET', `/users/${ctx.ids[':ua']}`)).json.username;
      return (name === 'mallory') !== allowed ? `username is ${name}` : undefined;
    } },
  { name: "set A's password", req: ['PUT', '/users/:ua', { password: 'owned' }], dev: [200, 200, 200, 200, 200],
    data: async (ctx, who, r, env) => {
      const allowed = who === 'A' || ROOTS(env).includes(who);
      return (await loginWorks(ctx, 'userA', 'owned')) !== allowed || (await loginWorks(ctx, 'userA', 'pw-A')) === allowed
        ? 'the password' : undefined;
    } },
  { name: 'password by body id', req: ['PUT', '/users', { id: ':ua', password: 'owned' }], dev: [200, 200, 200, 200, 200],
    data: async (ctx, who, r, env) =>
      ((await loginWorks(ctx, 'userA', 'owned')) !== (who === 'A' || ROOTS(env).includes(who)) ? 'the password' : undefined) },
  { name: 'delete user A', req: ['DELETE', '/users/:ua'], dev: [200, 200, 200, 200, 200],
    data: async (ctx) => ((await api(ctx.server, 'GET', '/users/me', undefined, as(ctx, 'A'))).status !== 204
      ? "the deleted user's session still works" : undefined) },
  { name: 'filter on password', req: ['GET', '/users?password=x'], dev: [400, 400, 400, 200, 200], prod: [400, 400, 400, 200, 400] },
  // Authoring: /__resources and the dashboard.
  { name: 'list resources', req: ['GET', '/__resources'], dev: [401, 401, 401, 200, 200], prod: [401, 401, 401, 200, 401] },
  { name: 'resource types', req: ['GET', '/__resources/types'], dev: [401, 401, 401, 200, 200], prod: [401, 401, 401, 200, 401] },
  { name: 'create a resource', req: ['POST', '/__resources/planted', { type: 'Collection' }],
    dev: [401, 401, 401, 200, 200], prod: [401, 401, 401, 200, 401],
    data: (ctx, who, r, env) => (fs.existsSync(path.join(ctx.dir, 'resources', 'planted')) !== ROOTS(env).includes(who)
      ? 'resources/planted' : undefined) },
  { name: 'write a script', req: ['PUT', '/__resources/todos/get.js', { value: 'setResult(1)' }],
    dev: [401, 401, 401, 200, 200], prod: [401, 401, 401, 200, 401],
    data: (ctx, who, r, env) => (fs.readFileSync(path.join(ctx.dir, 'resources', 'todos', 'get.js'), 'utf8')
      .includes('setResult') !== ROOTS(env).includes(who) ? 'todos/get.js' : undefined) },
  { name: 'dashboard', req: ['GET', '/dashboard/'], dev: [200, 200, 200, 200, 200] },
  { name: 'is root', req: ['GET', '/dashboard/__is-root'], dev: [200, 200, 200, 200, 200],
    data: (ctx, who, r, env) => ((r.json.isRoot === true) !== ROOTS(env).includes(who) ? r.text : undefined) },
  { name: 'metrics', req: ['GET', '/__metrics'], dev: [200, 200, 200, 200, 200], prod: [401, 401, 401, 200, 401],
    data: (ctx, who, r) => (r.status === 200 && !r.text.includes('dpd_http_requests_total') ? 'no metrics' : undefined) },
  // Static files and the client library.
  { name: 'static page', req: ['GET', '/index.html'], dev: [200, 200, 200, 200, 200] },
  { name: 'static escape', req: ['GET', '/..%2f..%2fapp.dpd'], dev: [404, 404, 404, 404, 404] },
  { name: 'dot file', req: ['GET', '/../.dpd/keys.json'], dev: [404, 404, 404, 404, 404] },
  { name: 'dpd.js', req: ['GET', '/dpd.js'], dev: [200, 200, 200, 200, 200] },
  { name: 'socket.io handshake', req: ['GET', '/socket.io/?EIO=4&transport=polling'], dev: [200, 200, 200, 200, 200] },
  // A custom resource type (node_modules/whoami.js, on the module host): it sees exactly the caller's user and root
  // flag, its ctx.dpd calls carry the caller's session (the owner scripts still decide), and it refuses what it says.
  { name: 'custom type: who', req: ['GET', '/whoami'], dev: [200, 200, 200, 200, 200],
    data: (ctx, who, r, env) => {
      const user = who === 'A' || who === 'B' ? `user${who}` : null;
      return r.json.user !== user || r.json.isRoot !== ROOTS(env).includes(who) ? r.text : undefined;
    } },
  { name: 'custom type: its dpd', req: ['GET', '/whoami/todos'], dev: [200, 200, 200, 200, 200],
    data: (ctx, who, r) => {
      const want = who === 'A' ? [ctx.ids[':a']] : who === 'B' ? [ctx.ids[':b']] : [];
      return JSON.stringify(r.json.map((t) => t.id)) !== JSON.stringify(want) || r.text.includes('secret') ? r.text : undefined;
    } },
  { name: 'custom type: write', req: ['POST', '/whoami', { title: 'via module' }], dev: [401, 200, 200, 401, 401],
    data: async (ctx, who, r) => {
      if (r.status !== 200) return undefined;
      const mine = await api(ctx.server, 'GET', `/todos/${r.json.id}`, undefined, as(ctx, who));
      return mine.status !== 200 || mine.json.owner !== ctx.ids[`:u${who.toLowerCase()}`] ? mine.text : undefined;
    } },
];

// The custom type of the matrix, written into the app copy's node_modules.
const WHOAMI = `var Resource = require('deployd/lib/resource'), util = require('util');
function WhoAmI() { Resource.apply(this, arguments); }
util.inherits(WhoAmI, Resource);
WhoAmI.prototype.handle = function (ctx, next) {
  var me = ctx.session && ctx.session.user;
  if (ctx.method === 'GET' && ctx.url === '/todos') return ctx.dpd.todos.get({}, function (r, e) { ctx.done(e, r); });
  if (ctx.method === 'GET') return ctx.done(null, { user: me ? me.username : null, isRoot: !!ctx.req.isRoot });
  if (ctx.method === 'POST') {
    if (!me) return ctx.done({ statusCode: 401, message: 'log in first' });
    return ctx.dpd.todos.post({ title: ctx.body.title }, function (r, e) { ctx.done(e, r); });
  }
  next();
};
module.exports = WhoAmI;
`;

async function setup(env) {
  const dir = copyFixture('users');
  fs.mkdirSync(path.join(dir, 'node_modules'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'node_modules', 'whoami.js'), WHOAMI);
  fs.mkdirSync(path.join(dir, 'resources', 'whoami'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'resources', 'whoami', 'config.json'), JSON.stringify({ type: 'WhoAmI' }));
  fs.mkdirSync(path.join(dir, '.dpd'), { recursive: true });
  fs.writeFileSync(path.join(dir, '.dpd', 'keys.json'), JSON.stringify({ [KEY]: true }));
  const server = await startDpd(dir, ['-e', env]);
  const ids = {};
  const headers = { guest: {}, root: { 'dpd-ssh-key': KEY }, wrong: { 'dpd-ssh-key': 'not-a-key' } };
  for (const who of ['A', 'B']) {
    const u = await api(server, 'POST', '/users', { username: `user${who}`, password: `pw-${who}` });
    assert.equal(u.status, 200, u.text);
    ids[`:u${who.toLowerCase()}`] = u.json.id;
    const login = await api(server, 'POST', '/users/login', { username: `user${who}`, password: `pw-${who}` });
    assert.equal(login.status, 200, login.text);
    headers[who] = { cookie: `sid=${login.json.id}` };
    const todo = await api(server, 'POST', '/todos', { title: `${who}'s`, secret: `secret-${who}` }, headers[who]);
    assert.equal(todo.status, 200, todo.text);
    ids[`:${who.toLowerCase()}`] = todo.json.id;
  }
  return { dir, server, ids, headers };
}

const fill = (v, ids) => (typeof v === 'string' ? v.replace(/:u?[ab]\b/g, (m) => ids[m] ?? m)
  : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x, ids)])) : v);

// The Performance page's feed goes to root sockets that ask for it, and to nobody else.
async function perfFeed(ctx, who) {
  const socket = io4(ctx.server.base, { forceNew: true, reconnection: false, transports: ['polling'],
    query: { dpdPerf: '1' }, extraHeaders: ctx.headers[who] });
  try {
    return await new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), 2500);
      socket.on('dpd:perf', () => { clearTimeout(t); resolve(true); });
      socket.on('connect_error', () => { clearTimeout(t); resolve(false); });
    });
  } finally {
    socket.close();
  }
}

process.setMaxListeners(0);  // every app copy registers its clean-up at exit
const shared = {};

for (const env of ['development', 'production']) {
  test(`security matrix, ${env}: every route × guest, user A, user B, root, wrong key`, { timeout: 300000 }, async () => {
    const seen = [];
    const unexpected = [];
    try {
      for (const route of ROUTES) {
        const expected = (env === 'production' && route.prod) || route.dev;
        const row = [];
        for (const [i, who] of WHO.entries()) {
          // Each write gets a fresh app: a rename or a delete would change what the next cell sees.
          const write = route.req[0] !== 'GET';
          const ctx = write || !shared[env] ? await setup(env) : shared[env];
          if (!write) shared[env] = ctx;
          try {
            const [method, p, body] = route.req;
            const r = await api(ctx.server, method, fill(p, ctx.ids), fill(body, ctx.ids), ctx.headers[who]);
            row.push(r.status);
            if (r.status !== expected[i]) {
              unexpected.push(`${route.name} as ${who}: ${r.status}, expected ${expected[i]}: ${r.text.slice(0, 160)}`);
            } else if (route.data) {
              const problem = await route.data(ctx, who, r, env);
              if (problem) unexpected.push(`${route.name} as ${who}: ${r.status} but ${problem}`);
            }
          } finally {
            if (write) assert.equal(await ctx.server.stop(), 0);
          }
        }
        seen.push(`${route.name.padEnd(22)} ${row.join(' ')}`);
      }
      const ctx = shared[env];
      for (const who of WHO) {
        const got = await perfFeed(ctx, who);
        if (got !== ROOTS(env).includes(who)) unexpected.push(`performance feed as ${who}: ${got ? 'sent' : 'not sent'}`);
      }
    } finally {
      if (process.env.MATRIX_PRINT) console.log(`${env}:\n${seen.join('\n')}`);
      if (shared[env]) await shared[env].server.stop();
    }
    assert.deepEqual(unexpected, []);
  });
}
