// /dpd.js in a real browser (Debian's Chromium driven by playwright-core): the page does CRUD with callbacks and
// promises, logs in, and receives realtime events — emitted by another client's request — over dpd.js's own
// socket.io client, including one addressed to its user through the X-Session-Token → server:setSession path.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { copyFixture, repoRoot, startDpd, tempDir } from './harness.mjs';

const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

describe('dpd.js in Chromium', () => {
  let server;
  let browser;
  let page;
  before(async () => {
    server = await startDpd(copyFixture('realtime'));
    await fetch(`${server.base}/users`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'pw', role: 'admin' }),
    });
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
    page = await browser.newPage();
    await page.goto(`${server.base}/index.html`);
  });
  after(async () => {
    await browser?.close();
    assert.equal(await server.stop(), 0);
  });

  test('/dpd.js is served with the generated resources', async () => {
    const r = await fetch(`${server.base}/dpd.js`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/javascript');
    const text = await r.text();
    assert.match(text, /dpd\._resource\("messages", "\/messages", false, true\);/);
    assert.match(text, /dpd\._resource\("users", "\/users", true, true\);/);
    // The official socket.io client comes first: Deployd pages use its global `io` (io.connect) directly.
    assert.deepEqual(await page.evaluate(() => [typeof io, typeof io.connect, typeof io.Manager]), ['function', 'function', 'function']);
    assert.doesNotMatch(text, /sourceMappingURL/);
    assert.deepEqual(await page.evaluate(() => [typeof dpd, typeof dpd.messages.get, typeof dpd.users.login,
      typeof dpd.messages.on, dpd.getBaseUrl() === location.origin + '/']), ['function', 'function', 'function', 'function', true]);
  });

  test('CRUD with callbacks and promises', async () => {
    const out = await page.evaluate(async () => {
      const r = {};
      r.created = await new Promise((resolve) => dpd.messages.post({ text: 'from the browser' }, (res, err) => resolve([res, err])));
      const id = r.created[0].id;
      r.listed = await dpd.messages.get({ text: 'from the browser' });
      r.byId = await new Promise((resolve) => dpd.messages.get(id, (res) => resolve(res)));
      r.updated = await dpd.messages.put(id, { text: 'edited' });
      r.missing = await new Promise((resolve) => dpd('messages').get('nope').fail((e) => resolve(e)));
      r.missingCb = await new Promise((resolve) => dpd.messages.get('nope', (res, err) => resolve([res, err])));
      r.deleted = await dpd.messages.del(id);
      r.afterDelete = await dpd.messages.get({ text: 'edited' });
      return r;
    });
    assert.equal(out.created[0].text, 'from the browser');
    assert.equal(out.created[1], undefined);
    assert.equal(out.listed.length, 1);
    assert.equal(out.byId.text, 'from the browser');
    assert.equal(out.updated.text, 'edited');
    assert.deepEqual(out.missing, { message: 'not found', statusCode: 404, status: 404 });
    assert.deepEqual(out.missingCb, [null, { message: 'not found', statusCode: 404, status: 404 }]);
    assert.deepEqual(out.deleted, { count: 1 });
    assert.deepEqual(out.afterDelete, []);
  });

  test('dpd.<col>.aggregate: a pipeline from the page (issue #21), root-only without a list rule', async () => {
    const out = await page.evaluate(async () => {
      const r = {};
      await dpd.messages.post({ text: 'a', room: 'x' });
      await dpd.messages.post({ text: 'b', room: 'x' });
      await dpd.messages.post({ text: 'c', room: 'y' });
      const pipeline = [{ $match: { text: { $in: ['a', 'b', 'c'] } } }, { $group: { _id: '$room', n: { $count: {} } } },
        { $sort: { n: -1 } }];
      r.guest = await new Promise((resolve) => dpd.messages.aggregate(pipeline, (res, err) => resolve([res, err])));
      window._dpd.ajax.headers = { 'dpd-ssh-key': 'dev' };  // development: any key is root
      try {
        r.root = await dpd.messages.aggregate(pipeline);
        r.bad = await new Promise((resolve) => dpd.messages.aggregate([{ $out: 'x' }]).fail((e) => resolve(e)));
        for (const m of await dpd.messages.get({ text: { $in: ['a', 'b', 'c'] } })) await dpd.messages.del(m.id);
      } finally {
        window._dpd.ajax.headers = {};
      }
      return r;
    });
    assert.equal(out.guest[0], null);
    assert.equal(out.guest[1].status, 403);
    assert.deepEqual(out.root, [{ _id: 'x', n: 2 }, { _id: 'y', n: 1 }]);
    assert.equal(out.bad.status, 400);
    assert.match(out.bad.message, /Unsupported aggregation stage/);
  });

  test('realtime: events emitted by another client reach the page; login binds the socket', async () => {
    await page.evaluate(() => {
      window.seen = [];
      dpd.messages.on('created', (m) => window.seen.push(['created', m.text]));
      dpd.on('messages:admins', (m) => window.seen.push(['admins', m.text]));
      return new Promise((resolve) => dpd.socketReady(resolve));
    });
    const post = (body) => fetch(`${server.base}/messages`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    await post({ text: 'broadcast' });
    await page.waitForFunction(() => window.seen.some((e) => e[1] === 'broadcast'), null, { timeout: 5000 });
    // login: the X-Session-Token goes to the socket (server:setSession); then messages for admins arrive
    const login = await page.evaluate(async () => {
      try {
      const acked = new Promise((resolve) => dpd.once('server:acksession', () => resolve(true)));
      const session = await dpd.users.login({ username: 'alice', password: 'pw' });
      const me = await dpd.users.me();
      return { session, me, acked: await acked };
      } catch (e) { return { error: JSON.stringify(e) }; }
    });
    assert.equal(login.error, undefined);
    assert.match(login.session.id, /^[0-9a-f]{128}$/);
    assert.equal(login.me.username, 'alice');
    assert.equal(login.acked, true);
    await post({ text: 'for admins', toAdmins: true });
    await page.waitForFunction(() => window.seen.some((e) => e[0] === 'admins' && e[1] === 'for admins'), null, { timeout: 5000 });
    const logout = await page.evaluate(async () => [await dpd.users.logout(), await dpd.users.me()]);
    assert.deepEqual(logout, [{ count: 1 }, '']);
  });

  test('Deployd page hooks: _dpd.ajax.headers (root, Bearer, null), me(query, fn), setBaseUrl forms, socketReady', { timeout: 30000 }, async () => {
    const sid = (await (await fetch(`${server.base}/users/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'pw' }),
    })).json()).id;
    const out = await page.evaluate(async (sid) => {
      const r = {};
      const count = () => new Promise((resolve) => dpd.messages.get('count', (res, err) => resolve(res || err)));
      r.countAnonymous = await count();
      _dpd.ajax.headers = { 'dpd-ssh-key': true };  // Deployd's way of making the page root
      r.countRoot = await count();
      _dpd.ajax.headers = { Authorization: 'Bearer ' + sid };
      r.meBearer = await new Promise((resolve) => dpd.users.me((me) => resolve(me && me.username)));
      r.meQuery = await new Promise((resolve) => dpd.users.me({ $fields: { username: 1 } }, (me) => resolve(me && me.username)));
      _dpd.ajax.headers = null;
      r.meCleared = await new Promise((resolve) => dpd.users.me((me) => resolve(me)));
      r.base = dpd.getBaseUrl();
      dpd.setBaseUrl({ hostname: '127.0.0.1' });
      r.baseHost = dpd.getBaseUrl();
      dpd.setBaseUrl('http://example.invalid:9/');
      r.baseSet = dpd.getBaseUrl();
      dpd.setBaseUrl();
      r.baseAgain = dpd.getBaseUrl();
      await new Promise((resolve) => dpd.socketReady(resolve));
      let sync = true;
      r.readyLater = await new Promise((resolve) => { dpd.socketReady(() => resolve(!sync)); sync = false; });
      return r;
    }, sid);
    assert.deepEqual(out.countAnonymous, { message: 'Must be root to count', statusCode: 403, status: 403 });
    assert.equal(typeof out.countRoot.count, 'number');
    assert.equal(out.meBearer, 'alice');
    assert.equal(out.meQuery, 'alice');
    assert.equal(out.meCleared, '');
    assert.equal(out.base, `${server.base}/`);
    assert.equal(out.baseHost, `http://127.0.0.1:${server.port}/`);
    assert.equal(out.baseSet, 'http://example.invalid:9/');
    assert.equal(out.baseAgain, `${server.base}/`);
    assert.equal(out.readyLater, true, 'socketReady on a connected socket runs its callback later, never at once');
  });
});

describe('examples/todos', () => {
  test('two tabs see each other\'s changes', async () => {
    const dir = path.join(tempDir(), 'todos');
    fs.cpSync(path.join(repoRoot, 'examples', 'todos'), dir, { recursive: true, filter: (p) => !p.includes(`${path.sep}data`) });
    const server = await startDpd(dir);
    const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const [one, two] = [await browser.newPage(), await browser.newPage()];
      for (const p of [one, two]) {
        await p.goto(`${server.base}/`);
        await p.waitForFunction(() => document.getElementById('status').textContent === 'live', null, { timeout: 5000 });
      }
      await one.fill('#title', 'buy milk');
      await one.click('#add button');
      await two.waitForFunction(() => document.getElementById('list').textContent.includes('buy milk'), null, { timeout: 5000 });
      await two.click('#list li input[type=checkbox]');
      await one.waitForFunction(() => document.querySelector('#list li')?.className === 'done', null, { timeout: 5000 });
      await one.click('#list li button');
      await two.waitForFunction(() => document.querySelectorAll('#list li').length === 0, null, { timeout: 5000 });
    } finally {
      await browser.close();
      assert.equal(await server.stop(), 0);
    }
  });
});

// Deployd 1.2.0's own /dpd.js (npm dpd-clientlib 1.0.0: socket.io-client 1.x, its ajax helper and dpd.js), served
// from public/ with the code Deployd generates for the resources, against dpd — polling (XHR2, binary framing)
// and WebSocket.
function deploydClient() {
  const clib = path.join(repoRoot, 'tests', 'node_modules', 'dpd-clientlib', 'clib');
  const parts = ['socket.io.min.js', 'ayepromise.min.js', 'ajax.js', 'dpd.js'].map((f) => fs.readFileSync(path.join(clib, f), 'utf8'));
  let generated = '\n\n// automatically generated code\n\n';
  for (const name of ['messages', 'users']) {
    generated += `dpd.${name} = dpd("/${name}");\n`;
    for (const ev of ['on', 'once', 'off']) generated += `dpd.${name}.${ev} = function(ev, fn) { return dpd.${ev}("${name}:" + ev, fn); }\n`;
  }
  for (const f of ['login', 'logout']) generated += `dpd.users.${f} = function(path, body, fn) { return dpd.users.exec("${f}", path, body, fn); }\n`;
  generated += 'dpd.users.me = function(path, query, fn) { return dpd.users.get("me", path, query, fn); }\n';
  return parts.join('\n\n') + generated;
}

describe("Deployd's own dpd.js in Chromium", () => {
  let server;
  let browser;
  before(async () => {
    const app = copyFixture('realtime');
    fs.writeFileSync(path.join(app, 'public', 'deployd-dpd.js'), deploydClient());
    fs.writeFileSync(path.join(app, 'public', 'deployd.html'),
      '<!DOCTYPE html><html><head><script src="/deployd-dpd.js"></script></head><body>Deployd client</body></html>');
    server = await startDpd(app);
    await fetch(`${server.base}/users`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'carol', password: 'pw', role: 'admin' }),
    });
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
  });
  after(async () => {
    await browser?.close();
    assert.equal(await server.stop(), 0);
  });

  for (const transport of ['polling', 'websocket']) {
    test(`CRUD, login with a Bearer header, root header, setBaseUrl and a realtime event over ${transport}`, { timeout: 30000 }, async () => {
      const page = await browser.newPage();
      let requests = 0;
      page.on('request', (r) => { if (r.url().includes('/socket.io/')) requests++; });
      try {
        await page.goto(`${server.base}/deployd.html`);
        const out = await page.evaluate(async (transport) => {
          const r = {};
          // Deployd's dpd.js connects with io.connect(baseUrl); choose the transport before it does.
          const connect = io.connect;
          io.connect = (url, opts) => connect(url, Object.assign({}, opts, { transports: [transport] }));
          r.created = await dpd.messages.post({ text: 'deployd client' });
          r.listed = await dpd.messages.get({ text: 'deployd client' });
          r.updated = await dpd.messages.put(r.created.id, { text: 'edited' });
          r.sid = (await dpd.users.login({ username: 'carol', password: 'pw' })).id;
          window.sid = r.sid;
          return r;
        }, transport);
        await page.context().clearCookies();  // only the header can log the page in now
        Object.assign(out, await page.evaluate(async (transport) => {
          const r = {};
          r.meAnonymous = await dpd.users.me().then((me) => me || '', () => null);
          _dpd.ajax.headers = { Authorization: 'Bearer ' + window.sid };
          r.me = await dpd.users.me().then((me) => me && me.username, () => null);
          _dpd.ajax.headers = { 'dpd-ssh-key': true };
          r.count = await new Promise((resolve) => dpd.messages.get('count', (res, err) => resolve(res || err)));
          _dpd.ajax.headers = null;
          r.base = dpd.getBaseUrl();
          dpd.setBaseUrl();
          r.baseAgain = dpd.getBaseUrl();
          await new Promise((resolve) => dpd.socketReady(resolve));
          r.event = await new Promise((resolve) => {
            const t = setTimeout(() => resolve(null), 5000);
            dpd.messages.on('created', (m) => { clearTimeout(t); resolve(m.text); });
            dpd.messages.post({ text: 'realtime ' + transport });
          });
          return r;
        }, transport));
        assert.equal(out.created.text, 'deployd client');
        assert.equal(out.listed.length, 1);
        assert.equal(out.updated.text, 'edited');
        assert.equal(out.meAnonymous, '');
        assert.equal(out.me, 'carol', 'logged in by the Authorization header alone');
        assert.equal(typeof out.count.count, 'number');
        assert.equal(out.base, `${server.base}/`);
        assert.equal(out.baseAgain, `${server.base}/`);
        assert.equal(out.event, `realtime ${transport}`);
        // A client in a reconnect loop would have made hundreds of requests by now.
        assert.ok(requests < 30, `${requests} socket.io requests`);
      } finally {
        await page.close();
      }
    });
  }
});
