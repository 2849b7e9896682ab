// Realtime (spec §12, §8.4–8.5, §6.7): dpd's own socket.io server with real clients from npm — socket.io-client
// 4.x (Engine.IO 4), 2.x and 1.7 (Engine.IO 3; 1.x is what Deployd shipped), each over long-polling, over WebSocket, and
// upgrading from one to the other. The same scenarios run for every combination.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { io as io4 } from 'socket.io-client';
import io1 from 'socket.io-client-1';
import io2 from 'socket.io-client-2';
import { api, assertAlive, copyFixture, startDpd } from './harness.mjs';


const clients = {
  'socket.io-client 4 (EIO 4)': (url, opts) => io4(url, { forceNew: true, reconnection: false, ...opts }),
  'socket.io-client 2 (EIO 3)': (url, opts) => io2(url, { forceNew: true, reconnection: false, ...opts }),
  // The generation Deployd 1.2 shipped (dpd-clientlib bundles socket.io-client 1.x).
  'socket.io-client 1.7 (EIO 3)': (url, opts) => io1(url, { forceNew: true, reconnection: false, ...opts }),
};
const transports = {
  polling: { transports: ['polling'] },
  websocket: { transports: ['websocket'] },
  upgrade: { transports: ['polling', 'websocket'] },
};

function connected(socket) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no connect')), 5000);
    socket.once('connect', () => { clearTimeout(t); resolve(socket); });
    socket.once('connect_error', (e) => { clearTimeout(t); reject(e); });
  });
}
// Resolves with the next `event` within `ms`, or with undefined (for "must not arrive").
function next(socket, event, ms = 3000) {
  return new Promise((resolve) => {
    const t = setTimeout(() => { socket.off(event, on); resolve(undefined); }, ms);
    const on = (data) => { clearTimeout(t); resolve(data === undefined ? null : data); };
    socket.once(event, on);
  });
}

describe('realtime', () => {
  let server;
  const users = {};
  before(async () => {
    server = await startDpd(copyFixture('realtime'));
    for (const [name, role] of [['alice', 'admin'], ['bob', 'member']]) {
      const u = await api(server, 'POST', '/users', { username: name, password: 'pw', role });
      assert.equal(u.status, 200, u.text);
      users[name] = { id: u.json.id };
    }
  });
  after(async () => { assert.equal(await server.stop(), 0); });

  for (const [clientName, make] of Object.entries(clients)) {
    for (const [transportName, opts] of Object.entries(transports)) {
      test(`${clientName} over ${transportName}: broadcast, bind, users, rooms, reconnect, logout`, async () => {
        const login = async (name) => (await api(server, 'POST', '/users/login', { username: name, password: 'pw' })).json.id;
        const aliceSid = await login('alice');
        const bobSid = await login('bob');
        const a = await connected(make(server.base, opts));
        const b = await connected(make(server.base, opts));
        try {
          // everyone
          let got = [next(a, 'messages:created'), next(b, 'messages:created')];
          await api(server, 'POST', '/messages', { text: 'hello', secret: 's' });
          for (const m of await Promise.all(got)) {
            assert.equal(m.text, 'hello');
            assert.ok(typeof m.id === 'string');
            assert.ok(!('secret' in m), 'hidden properties are not emitted');
          }
          // binding: server:setSession → server:acksession (both spellings)
          let ack = next(a, 'server:acksession');
          a.emit('server:setSession', { sid: aliceSid });
          assert.equal(await ack, null);
          ack = next(b, 'server:acksession');
          b.emit('server:setsession', { sid: bobSid });
          assert.equal(await ack, null);
          // users selected by a query on the user collection
          got = [next(a, 'messages:admins'), next(b, 'messages:admins', 800)];
          await api(server, 'POST', '/messages', { text: 'admins only', toAdmins: true });
          const [toAlice, toBob] = await Promise.all(got);
          assert.equal(toAlice.text, 'admins only');
          assert.equal(toBob, undefined, 'a member is not an admin');
          // a room joined through the session API
          await api(server, 'POST', '/join', { room: 'r1' }, { cookie: `sid=${aliceSid}` });
          await new Promise((r) => setTimeout(r, 100));
          got = [next(a, 'messages:room'), next(b, 'messages:room', 800)];
          await api(server, 'POST', '/messages', { text: 'in r1', room: 'r1' });
          const [inRoom, outside] = await Promise.all(got);
          assert.equal(inRoom.text, 'in r1');
          assert.equal(outside, undefined);
          // reconnecting restores the session's rooms
          a.close();
          const a2 = await connected(make(server.base, opts));
          ack = next(a2, 'server:acksession');
          a2.emit('server:setSession', { sid: aliceSid });
          await ack;
          got = next(a2, 'messages:room');
          await api(server, 'POST', '/messages', { text: 'again', room: 'r1' });
          assert.equal((await got).text, 'again');
          // logout: the socket loses its identity
          await api(server, 'POST', '/users/logout', undefined, { cookie: `sid=${aliceSid}` });
          await new Promise((r) => setTimeout(r, 100));
          got = next(a2, 'messages:admins', 800);
          await api(server, 'POST', '/messages', { text: 'after logout', toAdmins: true });
          assert.equal(await got, undefined);
          a2.close();
        } finally {
          a.close();
          b.close();
        }
      });
    }
  }

  test('the sid cookie binds at handshake', async () => {
    const sid = (await api(server, 'POST', '/users/login', { username: 'alice', password: 'pw' })).json.id;
    for (const make of Object.values(clients)) {
      const s = make(server.base, { transports: ['polling'], extraHeaders: { cookie: `sid=${sid}` } });
      const ack = next(s, 'server:acksession');
      await connected(s);
      assert.equal(await ack, null);
      const got = next(s, 'messages:admins');
      await api(server, 'POST', '/messages', { text: 'cookie', toAdmins: true });
      assert.equal((await got).text, 'cookie');
      s.close();
    }
  });

  test('engine.io errors: bad EIO, transport, sid, method', async () => {
    const get = async (q, init) => {
      const r = await fetch(`${server.base}/socket.io/?${q}`, init);
      return { status: r.status, body: await r.text() };
    };
    assert.deepEqual(await get('EIO=5&transport=polling'), { status: 400, body: '{"code":5,"message":"Unsupported protocol version"}' });
    assert.deepEqual(await get('EIO=4&transport=carrier-pigeon'), { status: 400, body: '{"code":0,"message":"Transport unknown"}' });
    assert.deepEqual(await get('EIO=4&transport=polling&sid=nope'), { status: 400, body: '{"code":1,"message":"Session ID unknown"}' });
    assert.deepEqual(await get('EIO=4&transport=polling', { method: 'POST', body: '40' }),
      { status: 400, body: '{"code":2,"message":"Bad handshake method"}' });
    const open = await get('EIO=4&transport=polling');
    assert.equal(open.status, 200);
    const handshake = JSON.parse(open.body.slice(1));
    assert.deepEqual(Object.keys(handshake), ['sid', 'upgrades', 'pingInterval', 'pingTimeout', 'maxPayload']);
    assert.deepEqual(handshake.upgrades, ['websocket']);
    const v3 = await get('EIO=3&transport=polling&b64=1');
    assert.match(v3.body, /^\d+:0\{"sid":"[0-9a-f]+","upgrades":\["websocket"\],"pingInterval":25000,"pingTimeout":20000\}2:40$/);
    // an invalid packet closes that socket, nothing else
    const bad = await get(`EIO=4&transport=polling&sid=${handshake.sid}`, { method: 'POST', body: '9garbage' });
    assert.equal(bad.status, 400);
    assert.equal((await get(`EIO=4&transport=polling&sid=${handshake.sid}`)).status, 400);
    await assertAlive(server);
  });
});
