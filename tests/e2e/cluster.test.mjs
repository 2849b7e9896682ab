// Several dpd nodes behind one load balancer (issue #17, docs/scaling.md): three nodes on loopback ports serve one
// app folder and one store (the shared SQLite file, then the MongoDB test double), with a real redis-server as the
// bus. Clients of every socket.io generation on every node; emits from one node in every form; sessions made and
// ended on different nodes; the login limit across nodes; a configuration change; Redis killed and restarted.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { io as io4 } from 'socket.io-client';
import io1 from 'socket.io-client-1';
import io2 from 'socket.io-client-2';
import { api, copyFixture, startCongo, startDpd, tempDir } from './harness.mjs';

const generations = {
  'socket.io 4': (url) => io4(url, { forceNew: true, reconnection: false, transports: ['websocket'] }),
  'socket.io 2': (url) => io2(url, { forceNew: true, reconnection: false, transports: ['websocket'] }),
  'socket.io 1.7': (url) => io1(url, { forceNew: true, reconnection: false, transports: ['polling'] }),
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// redis-server on `port`, in a folder of its own, nothing persisted.
async function startRedis(port) {
  const dir = tempDir('dpd-redis-');
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`redis-server did not start:\n${out}`)); }, 10000);
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) { clearTimeout(t); resolve(); }
    });
    proc.on('exit', (c) => { clearTimeout(t); reject(new Error(`redis-server exited ${c}:\n${out}`)); });
  });
  return {
    proc,
    stop: () => new Promise((r) => { if (proc.exitCode !== null) return r(); proc.once('exit', r); proc.kill('SIGKILL'); }),
  };
}

function connected(socket) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no connect')), 5000);
    socket.once('connect', () => { clearTimeout(t); resolve(socket); });
    socket.once('connect_error', (e) => { clearTimeout(t); reject(e); });
  });
}

async function busState(node) {
  const r = await api(node, 'GET', '/__ready');
  assert.equal(r.status, 200, 'a node with the bus down still serves');
  return r.json.bus;
}
async function waitBus(nodes, state, ms = 8000) {
  const end = Date.now() + ms;
  for (;;) {
    const states = await Promise.all(nodes.map(busState));
    if (states.every((s) => s === state)) return;
    if (Date.now() > end) assert.fail(`bus not ${state} on every node: ${states}`);
    await sleep(100);
  }
}

// Every socket records the frames it gets, by event.
function record(socket) {
  const got = {};
  for (const ev of ['messages:created', 'messages:admins', 'messages:room']) {
    got[ev] = [];
    socket.on(ev, (m) => got[ev].push(m));
  }
  return got;
}

async function bind(socket, sid) {
  const ack = new Promise((resolve) => socket.once('server:acksession', resolve));
  socket.emit('server:setSession', { sid });
  await ack;
}

function clusterSuite(store) {
  describe(`three nodes, one Redis bus (${store})`, () => {
    let redis, redisPort, congo, app;
    const nodes = [];
    const users = {};
    let args;

    before(async () => {
      redisPort = await freePort();
      redis = await startRedis(redisPort);
      app = copyFixture('realtime');
      args = ['--bus', `redis://127.0.0.1:${redisPort}/0`];
      if (store === 'mongodb') {
        congo = await startCongo();
        args.push('--db', `mongodb://127.0.0.1:${congo.port}/cluster`);
      }
      for (let i = 0; i < 3; i++) nodes.push(await startDpd(app, args));
      await waitBus(nodes, 'up');
      for (const [name, role, node] of [['alice', 'admin', 0], ['bob', 'member', 1]]) {
        const u = await api(nodes[node], 'POST', '/users', { username: name, password: 'pw', role });
        assert.equal(u.status, 200, u.text);
        users[name] = u.json.id;
      }
    });
    after(async () => {
      for (const n of nodes) assert.equal(await n.stop(), 0);
      await redis.stop();
      if (congo) await congo.stop();
    });

    test('emits from one node reach the matching sockets on every node, exactly once, in order', async () => {
      // Logged in on node 2; the sockets bind to that session on every node.
      const aliceSid = (await api(nodes[1], 'POST', '/users/login', { username: 'alice', password: 'pw' })).json.id;
      const bobSid = (await api(nodes[2], 'POST', '/users/login', { username: 'bob', password: 'pw' })).json.id;
      const sockets = [];
      for (const node of nodes) {
        for (const [gen, make] of Object.entries(generations)) {
          const s = await connected(make(node.base));
          sockets.push({ node: nodes.indexOf(node), gen, s, got: record(s) });
        }
      }
      try {
        // On every node: the socket.io 4 client is alice's, the socket.io 2 client bob's, the 1.7 client anonymous.
        for (const x of sockets) {
          if (x.gen === 'socket.io 4') { await bind(x.s, aliceSid); x.user = 'alice'; }
          if (x.gen === 'socket.io 2') { await bind(x.s, bobSid); x.user = 'bob'; }
        }
        // alice joins a room through the session API on node 3: her sockets on nodes 1 and 2 follow.
        assert.equal((await api(nodes[2], 'POST', '/join', { room: 'r1' }, { cookie: `sid=${aliceSid}` })).status, 200);
        await sleep(300);
        const from = nodes[0];
        for (let i = 0; i < 20; i++) {
          assert.equal((await api(from, 'POST', '/messages', { text: `all ${i}`, secret: 's' })).status, 200);
        }
        await api(from, 'POST', '/messages', { text: 'admins', toAdmins: true });
        await api(from, 'POST', '/messages', { text: 'r1', room: 'r1' });
        await api(from, 'POST', '/messages', { text: 'bob by uid', room: `dpd_uid:${users.bob}` });
        await sleep(800);
        for (const x of sockets) {
          const where = `${x.gen} on node ${x.node + 1}`;
          const all = x.got['messages:created'].map((m) => m.text);
          // post.js emits messages:created for every message, besides its room / users emits.
          assert.deepEqual(all, [...Array.from({ length: 20 }, (_, i) => `all ${i}`), 'admins', 'r1', 'bob by uid'],
            `${where}: everyone, once each, in order`);
          assert.ok(x.got['messages:created'].every((m) => !('secret' in m)), `${where}: hidden stays hidden`);
          assert.deepEqual(x.got['messages:admins'].map((m) => m.text), x.user === 'alice' ? ['admins'] : [],
            `${where}: users selected by a query`);
          const room = x.got['messages:room'].map((m) => m.text);
          assert.deepEqual(room, x.user === 'alice' ? ['r1'] : x.user === 'bob' ? ['bob by uid'] : [],
            `${where}: a room / dpd_uid:<uid>`);
        }
      } finally {
        for (const x of sockets) x.s.close();
      }
    });

    test('a session made on node 2 and ended on node 3 is over on node 1 within a bus round trip', async () => {
      const sid = (await api(nodes[1], 'POST', '/users/login', { username: 'alice', password: 'pw' })).json.id;
      const me = (node) => api(node, 'GET', '/users/me', undefined, { cookie: `sid=${sid}` });
      assert.equal((await me(nodes[0])).status, 200, 'valid on another node (and now cached there)');
      const socket = await connected(generations['socket.io 4'](nodes[0].base));
      const got = record(socket);
      try {
        await bind(socket, sid);
        assert.equal((await api(nodes[2], 'POST', '/users/logout', undefined, { cookie: `sid=${sid}` })).status, 200);
        const t0 = Date.now();
        let status;
        while ((status = (await me(nodes[0])).status) === 200 && Date.now() - t0 < 2000) await sleep(5);
        assert.equal(status, 204, 'node 1 no longer honours the session');
        assert.ok(Date.now() - t0 < 500, `invalidated after ${Date.now() - t0} ms`);
        await sleep(100);
        await api(nodes[1], 'POST', '/messages', { text: 'after logout', toAdmins: true });
        await sleep(500);
        assert.deepEqual(got['messages:admins'], [], "the socket on node 1 lost the user's room");
      } finally {
        socket.close();
      }
    });

    test('a password change and a user deletion on node 3 end the user\'s sessions cached on node 1', async () => {
      const name = `dave${store}`;
      const made = await api(nodes[0], 'POST', '/users', { username: name, password: 'pw' });
      assert.equal(made.status, 200, made.text);
      const login = async () => (await api(nodes[1], 'POST', '/users/login', { username: name, password: 'pw' })).json.id;
      const gone = async (sid) => {
        const me = () => api(nodes[0], 'GET', '/users/me', undefined, { cookie: `sid=${sid}` });
        const t0 = Date.now();
        let status;
        while ((status = (await me()).status) === 200 && Date.now() - t0 < 2000) await sleep(5);
        assert.equal(status, 204);
        assert.ok(Date.now() - t0 < 500, `invalidated after ${Date.now() - t0} ms`);
      };
      const root = { 'dpd-ssh-key': 'any' };
      let sid = await login();
      assert.equal((await api(nodes[0], 'GET', '/users/me', undefined, { cookie: `sid=${sid}` })).status, 200);
      assert.equal((await api(nodes[2], 'PUT', `/users/${made.json.id}`, { password: 'pw' }, root)).status, 200);
      await gone(sid);
      sid = await login();
      assert.equal((await api(nodes[0], 'GET', '/users/me', undefined, { cookie: `sid=${sid}` })).status, 200);
      assert.equal((await api(nodes[2], 'DELETE', `/users/${made.json.id}`, undefined, root)).status, 200);
      await gone(sid);
    });

    test('failed logins spread over the three nodes still get a 429', async () => {
      const statuses = [];
      for (let i = 0; i < 7; i++) {
        const r = await api(nodes[i % 3], 'POST', '/users/login', { username: 'bob', password: `wrong ${i}` });
        statuses.push(r.status);
      }
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429]);
    });

    test('a resource added through /__resources on node 1 is served by every node', async () => {
      const name = `notes${store}`;
      const r = await api(nodes[0], 'POST', `/__resources/${name}`, { type: 'Collection', properties: {} },
        { 'dpd-ssh-key': 'any' });
      assert.equal(r.status, 200, r.text);
      for (const node of nodes) {
        const t0 = Date.now();
        while ((await api(node, 'GET', `/${name}`)).status !== 200) {
          assert.ok(Date.now() - t0 < 3000, `node ${nodes.indexOf(node) + 1} never served /${name}`);
          await sleep(50);
        }
      }
      await sleep(300);
      // The others load it when node 1's message comes (their watchers, polling every second on the shared folder,
      // find it loaded already); both watchers winning the race against the bus would be a 1 in 10,000 chance.
      assert.ok(nodes.slice(1).some((n) => /app reloaded .*\(asked by another node\)/.test(n.stderr())),
        'the bus carried the change');
    });

    test('Redis killed and restarted: nothing fails, no stale session is honoured, realtime resumes', async () => {
      const sid = (await api(nodes[1], 'POST', '/users/login', { username: 'alice', password: 'pw' })).json.id;
      const me = (node) => api(node, 'GET', '/users/me', undefined, { cookie: `sid=${sid}` });
      assert.equal((await me(nodes[0])).status, 200);
      await redis.stop();
      await waitBus(nodes, 'down');
      for (const node of nodes) {
        for (let i = 0; i < 5; i++) assert.equal((await api(node, 'POST', '/messages', { text: `down ${i}` })).status, 200);
      }
      // Ended on node 3 while the bus is down: node 1 reads the store instead of its cache.
      assert.equal((await api(nodes[2], 'POST', '/users/logout', undefined, { cookie: `sid=${sid}` })).status, 200);
      assert.equal((await me(nodes[0])).status, 204, 'no stale session while the bus is down');
      redis = await startRedis(redisPort);
      await waitBus(nodes, 'up');
      const socket = await connected(generations['socket.io 4'](nodes[2].base));
      const got = record(socket);
      try {
        await api(nodes[0], 'POST', '/messages', { text: 'after the outage' });
        await sleep(500);
        assert.deepEqual(got['messages:created'].map((m) => m.text), ['after the outage']);
      } finally {
        socket.close();
      }
      const m = await api(nodes[0], 'GET', '/__metrics');
      assert.match(m.text, /dpd_bus_reconnects_total [1-9]/);
      assert.match(m.text, /dpd_bus_messages_total\{direction="dropped"\} [1-9]/);
    });
  });
}

clusterSuite('sqlite');
clusterSuite('mongodb');

describe('the bus queue is bounded: a Redis that does not answer never holds a request', () => {
  test('with redis-server stopped (SIGSTOP), requests answer and messages are dropped and counted', async () => {
    const port = await freePort();
    const redis = await startRedis(port);
    const node = await startDpd(copyFixture('realtime'),
      ['--bus', `redis://127.0.0.1:${port}/0`, '--limit', 'realtime.bus_queue_bytes=4096']);
    try {
      await waitBus([node], 'up');
      redis.proc.kill('SIGSTOP');
      const t0 = Date.now();
      for (let i = 0; i < 200; i++) {
        assert.equal((await api(node, 'POST', '/messages', { text: `m${i} ${'x'.repeat(200)}` })).status, 200);
      }
      const elapsed = Date.now() - t0;
      assert.ok(elapsed < 10000, `200 POSTs took ${elapsed} ms`);
      const m = await api(node, 'GET', '/__metrics');
      const dropped = Number(m.text.match(/dpd_bus_messages_total\{direction="dropped"\} (\d+)/)[1]);
      assert.ok(dropped > 0, 'messages beyond the bound are dropped');
      const queued = Number(m.text.match(/dpd_bus_queued_bytes (\d+)/)[1]);
      assert.ok(queued <= 4096, `queue ${queued} bytes`);
    } finally {
      redis.proc.kill('SIGCONT');
      assert.equal(await node.stop(), 0);
      await redis.stop();
    }
  });

  test('one node cut off from Redis: a logout it could not publish empties the others\' caches once it is back',
    async () => {
      const port = await freePort();
      const redis = await startRedis(port);
      // Node 1 reaches Redis through a proxy the test can cut; node 2 directly. Both reach the SQLite file.
      const conns = new Set();
      let open = true;
      const proxy = net.createServer((c) => {
        if (!open) { c.destroy(); return; }
        const up = net.connect(port, '127.0.0.1');
        conns.add(c).add(up);
        c.pipe(up).pipe(c);
        for (const s of [c, up]) {
          s.on('error', () => {});
          s.on('close', () => { c.destroy(); up.destroy(); conns.delete(s); });
        }
      });
      await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
      const app = copyFixture('realtime');
      const a = await startDpd(app, ['--bus', `redis://127.0.0.1:${proxy.address().port}/0`]);
      const b = await startDpd(app, ['--bus', `redis://127.0.0.1:${port}/0`]);
      try {
        await waitBus([a, b], 'up');
        assert.equal((await api(a, 'POST', '/users', { username: 'carol', password: 'pw' })).status, 200);
        const sid = (await api(a, 'POST', '/users/login', { username: 'carol', password: 'pw' })).json.id;
        const me = (node) => api(node, 'GET', '/users/me', undefined, { cookie: `sid=${sid}` });
        assert.equal((await me(b)).status, 200, 'cached on node 2');
        open = false;
        for (const c of conns) c.destroy();
        // Node 2 still hears Redis, so it trusts its cache; node 1's logout message is lost with the connection.
        assert.equal((await api(a, 'POST', '/users/logout', undefined, { cookie: `sid=${sid}` })).status, 200);
        await sleep(200);
        open = true;
        await waitBus([a, b], 'up');
        const t0 = Date.now();
        let status;
        while ((status = (await me(b)).status) === 200 && Date.now() - t0 < 5000) await sleep(20);
        assert.equal(status, 204, 'node 2 no longer honours the session node 1 ended while cut off');
      } finally {
        open = false;
        for (const c of conns) c.destroy();
        proxy.close();
        assert.equal(await a.stop(), 0);
        assert.equal(await b.stop(), 0);
        await redis.stop();
      }
    });

  test('a bad --bus URL is refused at start-up', async () => {
    for (const url of ['http://x', 'redis://h:99999', 'redis://h/99', 'redis://h?x=1']) {
      await assert.rejects(startDpd(copyFixture('realtime'), ['--bus', url]), /--bus must be redis:\/\//);
    }
  });
});
