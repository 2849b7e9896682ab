// Users, sessions and root keys (spec §7–§9) with Deployd's security holes closed (spec §16.2 items 1, 3, 7, 8):
// the authorization matrix of RELIABILITY.md B7 (guest, user A, user B, root, wrong key, internal call — each
// refused write checked against the database), the session lifecycle cases, the login bad-input list of B3,
// a user and a session written the way Deployd 1.2 writes them, and the Login event.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { api, assertAlive, copyFixture, runDpd, startDpd } from './harness.mjs';


function sql(appDir, statement) {
  return execFileSync('sqlite3', [path.join(appDir, 'data', 'app.sqlite'), statement], { encoding: 'utf8' }).trim();
}

// Deployd 1.2's formats, computed here independently of dpd.
const legacyHash = (password, salt) => salt + crypto.createHmac('sha256', salt).update(password).digest('hex');
const md5 = (s) => crypto.createHash('md5').update(s).digest('hex');
const jsonQuery = (obj) => '?' + encodeURIComponent(JSON.stringify(obj));

describe('users, sessions and root', () => {
  let server;
  let appDir;
  let rootKey;
  const wrongKey = 'f'.repeat(512);
  const actors = {};  // name → headers
  const users = {};   // name → {id, sid, password}

  const login = async (username, password, headers = {}) =>
    api(server, 'POST', '/users/login', { username, password }, headers);

  before(async () => {
    appDir = copyFixture('users');
    assert.equal(runDpd(['keygen'], { cwd: appDir }).code, 0);
    rootKey = runDpd(['showkey'], { cwd: appDir }).stdout.trim();
    // production: root needs a real key (any key is root only in development on loopback)
    server = await startDpd(appDir, ['-e', 'production', '--limit', 'session.login_attempts=5']);
    for (const [name, pw] of [['alice', 'alice-pw'], ['bob', 'bob-pw']]) {
      const r = await api(server, 'POST', '/users', { username: name, password: pw, role: 'member' });
      assert.equal(r.status, 200, r.text);
      assert.ok(!('password' in r.json), 'a POST response never shows the password');
      const l = await login(name, pw);
      assert.equal(l.status, 200, l.text);
      users[name] = { id: r.json.id, sid: l.json.id, password: pw };
    }
    actors.guest = {};
    actors.A = { cookie: `sid=${users.alice.sid}` };
    actors.B = { authorization: `Bearer ${users.bob.sid}` };
    actors.root = { 'dpd-ssh-key': rootKey };
    actors.wrong = { 'dpd-ssh-key': wrongKey };
  });
  after(async () => { assert.equal(await server.stop(), 0); });

  test('login answers Deployd’s shape with cookie and token; passwords are argon2id at rest', async () => {
    const r = await login('alice', 'alice-pw');
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.json), ['path', 'id', 'uid']);
    assert.equal(r.json.path, '/users');
    assert.equal(r.json.uid, users.alice.id);
    assert.match(r.json.id, /^[0-9a-f]{128}$/);
    assert.equal(r.headers.get('set-cookie'), `sid=${r.json.id}; path=/; httponly`);
    assert.equal(r.headers.get('x-session-token'), r.json.id);
    const stored = sql(appDir, `select json_extract(doc, '$.password') from users where id = '${users.alice.id}'`);
    assert.match(stored, /^\$argon2id\$/);
    const session = JSON.parse(sql(appDir, `select doc from sessions where id = '${r.json.id}'`));
    assert.equal(session.uid, users.alice.id);
    assert.equal(session.path, '/users');
    assert.equal(session.userhash, md5('alice' + stored), 'userhash = md5(username + stored hash), as Deployd');
    assert.equal(typeof session.createdOn, 'number');
  });

  test('authorization matrix: todos guarded by their scripts', async () => {
    const ta = await api(server, 'POST', '/todos', { title: 'a-todo', secret: 'a-secret' }, actors.A);
    const tb = await api(server, 'POST', '/todos', { title: 'b-todo', secret: 'b-secret' }, actors.B);
    assert.equal(ta.status, 200, ta.text);
    assert.equal(tb.status, 200, tb.text);
    assert.equal(ta.json.owner, users.alice.id);
    const rootRead = async (id) => (await api(server, 'GET', `/todos/${id}?$skipEvents=true`, undefined, actors.root)).json;
    const rootCount = async () => (await api(server, 'GET', '/todos/count', undefined, actors.root)).json.count;
    const noSecrets = (r) => assert.ok(!/a-secret|b-secret/.test(r.text), `secret leaked: ${r.text}`);

    const expect = {
      list: { guest: [], A: ['a-todo'], B: ['b-todo'], root: [], wrong: [] },
      byId: { guest: 403, A: 200, B: 403, root: 403, wrong: 403 },
      count: { guest: 403, A: 403, B: 403, root: 200, wrong: 403 },
      create: { guest: 401, A: 200, B: 200, root: 401, wrong: 401 },
      update: { guest: 403, A: 200, B: 403, root: 403, wrong: 403 },
      me: { guest: 204, A: 200, B: 200, root: 204, wrong: 204 },
    };
    for (const [actor, headers] of Object.entries(actors)) {
      let r = await api(server, 'GET', '/todos', undefined, headers);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json.map((t) => t.title), expect.list[actor], `list as ${actor}`);
      noSecrets(r);
      r = await api(server, 'GET', '/todos?title=a-todo', undefined, headers);
      assert.deepEqual(r.json.map((t) => t.title), actor === 'A' ? ['a-todo'] : [], `query as ${actor}`);
      r = await api(server, 'GET', `/todos/${ta.json.id}`, undefined, headers);
      assert.equal(r.status, expect.byId[actor], `get by id as ${actor}`);
      noSecrets(r);
      r = await api(server, 'GET', '/todos/count', undefined, headers);
      assert.equal(r.status, expect.count[actor], `count as ${actor}`);

      const before = await rootCount();
      r = await api(server, 'POST', '/todos', { title: `by-${actor}` }, headers);
      assert.equal(r.status, expect.create[actor], `create as ${actor}: ${r.text}`);
      assert.equal(await rootCount(), before + (r.status === 200 ? 1 : 0), `a refused create wrote nothing (${actor})`);

      r = await api(server, 'PUT', `/todos/${ta.json.id}`, { title: `upd-${actor}`, owner: 'someone-else' }, headers);
      assert.equal(r.status, expect.update[actor], `update as ${actor}: ${r.text}`);
      const stored = await rootRead(ta.json.id);
      assert.equal(stored.owner, users.alice.id, 'protect(owner) holds');
      if (r.status !== 200) assert.notEqual(stored.title, `upd-${actor}`, `a refused update wrote nothing (${actor})`);
      // update by query: the extra fields guard the target (a JSON query: a form query types an id of digits only as a
      // number, as Deployd does)
      r = await api(server, 'PUT', `/todos${jsonQuery({ id: ta.json.id, title: stored.title })}`,
        { secret: `q-${actor}` }, headers);
      assert.equal(r.status, expect.update[actor], `update by query as ${actor}: ${r.text}`);
      const afterQuery = await rootRead(ta.json.id);
      assert.equal(afterQuery.secret === `q-${actor}`, r.status === 200, `update by query wrote only when allowed (${actor})`);
      // static files are public
      r = await api(server, 'GET', '/index.html', undefined, headers);
      assert.equal(r.status, 200);

      if (actor !== 'A') {
        r = await api(server, 'DELETE', `/todos/${ta.json.id}`, undefined, headers);
        assert.equal(r.status, 403, `delete by id as ${actor}`);
        r = await api(server, 'DELETE', `/todos?title=${encodeURIComponent(stored.title)}`, undefined, headers);
        assert.equal(r.status, 400, `delete by query without id as ${actor} (Deployd needs an id)`);
        r = await api(server, 'DELETE', `/todos${jsonQuery({ id: ta.json.id, title: stored.title })}`, undefined, headers);
        assert.equal(r.status, 403, `delete by query as ${actor}`);
        assert.ok(await rootRead(ta.json.id), `a refused delete deleted nothing (${actor})`);
      }
      r = await api(server, 'GET', '/users/me', undefined, headers);
      assert.equal(r.status, expect.me[actor], `/users/me as ${actor}`);
      assert.ok(!/password/.test(r.text));
      // $skipEvents is root's alone
      r = await api(server, 'GET', '/todos?$skipEvents=true', undefined, headers);
      assert.equal(r.json.length > 2, actor === 'root', `$skipEvents as ${actor}`);
    }
    // internal calls carry the caller's session
    let r = await api(server, 'POST', '/proxy', { target: tb.json.id }, actors.A);
    assert.equal(r.json.read, null);
    assert.equal(r.json.readError, 'not yours');
    assert.equal(r.json.writeError, 'not yours');
    assert.equal((await rootRead(tb.json.id)).title, 'b-todo', 'a refused internal write wrote nothing');
    r = await api(server, 'POST', '/proxy', { target: ta.json.id }, actors.A);
    assert.equal(r.json.readError, null);
    assert.equal(r.json.writeError, null);
    assert.equal((await rootRead(ta.json.id)).title, 'changed internally');
    r = await api(server, 'POST', '/proxy', { target: ta.json.id }, actors.guest);
    assert.equal(r.json.readError, 'not yours');
    // the owner deletes
    r = await api(server, 'DELETE', `/todos/${ta.json.id}`, undefined, actors.A);
    assert.deepEqual(r.json, { count: 1 });
  });

  test('password is never returned, filterable, sortable or selectable by non-root', async () => {
    for (const actor of ['guest', 'A', 'wrong']) {
      for (const q of ['?password=x', '?{"password":{"$regex":"^a"}}', '?$sort[password]=1', '?{"$fields":{"password":1}}']) {
        const r = await api(server, 'GET', `/users${q}`, undefined, actors[actor]);
        assert.equal(r.status, 400, `${actor} ${q}: ${r.text}`);
      }
    }
    for (const actor of Object.keys(actors)) {
      const r = await api(server, 'GET', '/users', undefined, actors[actor]);
      assert.equal(r.status, 200);
      assert.ok(r.json.length >= 2 && r.json.every((u) => !('password' in u)), actor);
    }
    const r = await api(server, 'GET', '/users?{"$fields":{"password":1}}', undefined, actors.root);
    assert.equal(r.status, 200);
    assert.ok(r.json.every((u) => !('password' in u)), 'not even root reads hashes over HTTP');
  });

  test('credentials change only for the user itself, root or internal calls (§16.2 #1); usernames unique (#7)', async () => {
    // Deployd let anyone reset a password by putting the target id in the body.
    let r = await api(server, 'PUT', `/users/${users.bob.id}`, { id: users.bob.id, password: 'stolen' });
    assert.equal(r.status, 200, r.text);
    r = await api(server, 'PUT', `/users/${users.bob.id}`, { id: users.bob.id, password: 'stolen', username: 'x' }, actors.A);
    assert.equal(r.json.username, 'bob');
    assert.equal((await login('bob', 'stolen')).status, 401);
    const relog = await login('bob', 'bob-pw');
    assert.equal(relog.status, 200);
    users.bob.sid = relog.json.id;
    actors.B = { authorization: `Bearer ${users.bob.sid}` };
    // duplicate usernames: refused on create and on update
    r = await api(server, 'POST', '/users', { username: 'bob', password: 'p' });
    assert.equal(r.text, '{"errors":{"username":"is already in use"},"status":400}');
    r = await api(server, 'PUT', `/users/${users.alice.id}`, { username: 'bob' }, actors.A);
    assert.equal(r.text, '{"errors":{"username":"is already in use"},"status":400}');
    // the user itself changes its password: every session of that user ends
    const second = await login('alice', 'alice-pw');
    r = await api(server, 'PUT', `/users/${users.alice.id}`, { password: 'alice-pw2' }, { cookie: `sid=${second.json.id}` });
    assert.equal(r.status, 200, r.text);
    assert.ok(!('password' in r.json));
    for (const sid of [users.alice.sid, second.json.id]) {
      assert.equal((await api(server, 'GET', '/users/me', undefined, { cookie: `sid=${sid}` })).status, 204);
    }
    assert.equal((await login('alice', 'alice-pw')).status, 401);
    const l = await login('alice', 'alice-pw2');
    assert.equal(l.status, 200);
    users.alice.sid = l.json.id;
    actors.A = { cookie: `sid=${users.alice.sid}` };
    // empty password on update: "is required" for the user itself
    r = await api(server, 'PUT', `/users/${users.alice.id}`, { password: '' }, actors.A);
    assert.equal(r.text, '{"errors":{"password":"is required"},"status":400}');
  });

  test('session lifecycle: fixation, logout, deletion, invalidation, bearer garbage', async () => {
    // a login always gets a new id, and the old session of that client ends (§16.2 #8)
    const before = users.alice.sid;
    const again = await login('alice', 'alice-pw2', { cookie: `sid=${before}` });
    assert.notEqual(again.json.id, before);
    assert.equal((await api(server, 'GET', '/users/me', undefined, { cookie: `sid=${before}` })).status, 204);
    const me = await api(server, 'GET', '/users/me', undefined, { cookie: `sid=${again.json.id}` });
    assert.equal(me.status, 200);
    assert.equal(me.json.username, 'alice');
    // logout clears the cookie; the sid is dead afterwards; a second logout finds nothing
    let r = await api(server, 'POST', '/users/logout', undefined, { cookie: `sid=${again.json.id}` });
    assert.deepEqual(r.json, { count: 1 });
    assert.equal(r.headers.get('set-cookie'), 'sid=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly');
    assert.equal((await api(server, 'GET', '/users/me', undefined, { cookie: `sid=${again.json.id}` })).status, 204);
    r = await api(server, 'GET', '/users/logout', undefined, { cookie: `sid=${again.json.id}` });
    assert.equal(r.status, 200);
    assert.equal(r.text, '');
    // a deleted user's sessions end
    await api(server, 'POST', '/users', { username: 'carol', password: 'c' });
    const c = await login('carol', 'c');
    r = await api(server, 'DELETE', `/users/${c.json.uid}`, undefined, { cookie: `sid=${c.json.id}` });
    assert.deepEqual(r.json, { count: 1 });
    assert.equal(sql(appDir, `select count(*) from sessions where json_extract(doc, '$.uid') = '${c.json.uid}'`), '0');
    assert.equal((await api(server, 'GET', '/users/me', undefined, { cookie: `sid=${c.json.id}` })).status, 204);
    // credentials changed behind dpd's back (another node, an old Deployd): the userhash no longer matches
    await api(server, 'POST', '/users', { username: 'dave', password: 'd' });
    const d = await login('dave', 'd');
    sql(appDir, `update users set doc = json_set(doc, '$.password', 'changed') where id = '${d.json.uid}'`);
    r = await api(server, 'GET', '/users/me', undefined, { cookie: `sid=${d.json.id}` });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('x-session-invalidated'), 'true');
    // garbage, over-long and unknown ids are anonymous, never an error
    for (const h of [{ authorization: 'Bearer garbage' }, { authorization: 'Bearer ' + 'a'.repeat(128) },
      { authorization: 'bearer' }, { cookie: 'sid=' + 'z'.repeat(5000) }, { cookie: 'sid=' }]) {
      r = await api(server, 'GET', '/users/me', undefined, h);
      assert.equal(r.status, 204, JSON.stringify(h).slice(0, 60));
    }
    r = await api(server, 'GET', '/users/me', undefined, { cookie: 'sid=' + 'a'.repeat(100000) });
    assert.equal(r.status, 431, 'a 100 KB cookie exceeds the header limit');
    await assertAlive(server);
  });

  test('login bad input (RELIABILITY B3) and the rate limit', async () => {
    const notSpecified = '{"message":"username or password not specified","status":400}';
    for (const body of [{ username: 'bob', password: 123 }, { username: 'bob', password: [] },
      { username: 'bob', password: {} }, { username: 'bob', password: { $ne: null } }, { username: 'bob', password: null },
      { username: 'bob' }, { password: 'x' }, { username: { $ne: null }, password: 'x' }, {}]) {
      const r = await api(server, 'POST', '/users/login', body);
      assert.equal(r.text, notSpecified, JSON.stringify(body));
    }
    for (const raw of ['', 'null', '[]', '"x"', '{"username":"bob","password":"bob-pw"']) {
      const r = await api(server, 'POST', '/users/login', raw);
      assert.equal(r.status, 400, raw);
    }
    let r = await api(server, 'POST', '/users/login', { username: 'bob', password: 'x'.repeat(1000000) });
    assert.equal(r.text, '{"message":"password longer than 1024 bytes","status":400}');
    r = await api(server, 'POST', '/users', { username: 'long', password: 'x'.repeat(2000) });
    assert.equal(r.text, '{"errors":{"password":"is too long"},"status":400}');
    // no normalisation: case, whitespace and Unicode forms are different names/passwords
    await api(server, 'POST', '/users', { username: 'café', password: 'naïve' });
    assert.equal((await login('café', 'naïve')).status, 200);
    assert.equal((await login('café'.normalize('NFD'), 'naïve')).status, 401);
    assert.equal((await login('café', 'naïve'.normalize('NFD'))).status, 401);
    assert.equal((await login('CAFÉ', 'naïve')).status, 401);
    assert.equal((await login(' café', 'naïve')).status, 401);
    // 5 failed attempts per IP+username per window, then 429 — even with the right password
    await api(server, 'POST', '/users', { username: 'erin', password: 'e' });
    for (let i = 0; i < 5; i++) assert.equal((await login('erin', 'wrong')).status, 401);
    r = await login('erin', 'e');
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('retry-after'), '15');
    assert.equal((await login('bob', 'bob-pw')).status, 200, 'other usernames are not affected');
  });

  test('Login event: bookkeeping saved with events skipped; its cancel replaces "bad credentials"', async () => {
    await api(server, 'POST', '/users', { username: 'frank', password: 'f' });
    await login('frank', 'nope');
    await login('frank', 'nope');
    const rootList = async () => (await api(server, 'GET', '/users?username=frank', undefined, actors.root)).json[0];
    assert.equal((await rootList()).loginFailures, 2);
    const ok = await login('frank', 'f');
    assert.equal(ok.status, 200);
    const u = await rootList();
    assert.equal(u.lastLoginTime, 1234);
    assert.equal(u.loginFailures, 0);
    await api(server, 'PUT', `/users/${u.id}`, { banned: true }, actors.root);
    const banned = await login('frank', 'f');
    assert.equal(banned.text, '{"message":"banned","statusCode":403,"status":403}');
    assert.equal((await login('nosuchuser', 'x')).text, '{"message":"bad credentials","status":401}');
  });

  test('me, isMe and session in scripts; rooms persist in the session record', async () => {
    const sid = (await login('bob', 'bob-pw')).json.id;
    const h = { cookie: `sid=${sid}` };
    let r = await api(server, 'POST', '/whoami', { name: 'x' }, h);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.meName, 'bob');
    assert.equal(r.json.isMe, true);
    assert.equal(r.json.anonymous, false);
    assert.equal(r.json.hasSid, true);
    assert.deepEqual(r.json.rooms, ['room-x']);
    assert.equal(r.json.userMatches, true);
    r = await api(server, 'POST', '/whoami', {}, h);
    assert.deepEqual(r.json.rooms, ['room-x'], 'joined rooms are saved with the session');
    assert.deepEqual(JSON.parse(sql(appDir, `select doc from sessions where id = '${sid}'`))._rooms, ['room-x']);
    r = await api(server, 'POST', '/whoami', { name: 'y' });
    assert.equal(r.json.meName, null);
    assert.equal(r.json.isMe, false);
    assert.equal(r.json.anonymous, true);
    assert.deepEqual(r.json.rooms, ['room-y']);
    assert.equal(sql(appDir, `select count(*) from sessions where json_extract(doc, '$._rooms') like '%room-y%'`), '0',
      'nothing is stored for an anonymous client');
  });

  test('a user and a session written by Deployd 1.2 keep working; the hash is upgraded at login', async () => {
    const salt = crypto.randomBytes(128).toString('hex');
    const hash = legacyHash('old-secret', salt);
    assert.equal(hash.length, 320);
    const uid = '0123456789abcdef';
    sql(appDir, `insert into users (id, doc) values ('${uid}', json('{"username":"legacy","password":"${hash}","role":"old"}'))`);
    const sid = crypto.randomBytes(64).toString('hex');
    const now = Date.now();
    sql(appDir, `insert into sessions (id, doc) values ('${sid}', json('{"createdOn":${now},"lastActive":${now},"path":"/users","uid":"${uid}","userhash":"${md5('legacy' + hash)}"}'))`);
    let r = await api(server, 'GET', '/users/me', undefined, { cookie: `sid=${sid}` });
    assert.equal(r.status, 200, 'a Deployd session is recognised');
    assert.deepEqual(r.json, { username: 'legacy', role: 'old', id: uid });
    assert.equal((await login('legacy', 'wrong')).status, 401);
    r = await login('legacy', 'old-secret');
    assert.equal(r.status, 200);
    const stored = sql(appDir, `select json_extract(doc, '$.password') from users where id = '${uid}'`);
    assert.match(stored, /^\$argon2id\$/, 'upgraded to argon2id');
    assert.equal((await login('legacy', 'old-secret')).status, 200, 'and still logs in');
  });
});

describe('session expiry', () => {
  test('an expired session is anonymous', async () => {
    const appDir = copyFixture('users');
    const server = await startDpd(appDir, ['--limit', 'session.max_age_ms=1500']);
    try {
      await api(server, 'POST', '/users', { username: 'gina', password: 'g' });
      const l = await api(server, 'POST', '/users/login', { username: 'gina', password: 'g' });
      const h = { cookie: `sid=${l.json.id}` };
      assert.equal((await api(server, 'GET', '/users/me', undefined, h)).status, 200);
      await new Promise((res) => setTimeout(res, 2000));
      assert.equal((await api(server, 'GET', '/users/me', undefined, h)).status, 204);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});

describe('root in development', () => {
  test('any key is root on loopback only; on a public address a real key is required', async () => {
    const appDir = copyFixture('users');
    assert.equal(runDpd(['keygen'], { cwd: appDir }).code, 0);
    const key = runDpd(['showkey'], { cwd: appDir }).stdout.trim();
    const local = await startDpd(appDir);
    try {
      assert.equal((await api(local, 'GET', '/todos/count', undefined, { 'dpd-ssh-key': 'anything' })).status, 200);
      assert.equal((await api(local, 'GET', '/todos/count', undefined, { cookie: 'DpdSshKey=anything' })).status, 200);
    } finally {
      assert.equal(await local.stop(), 0);
    }
    const open = await startDpd(appDir, ['--host', '0.0.0.0']);
    try {
      assert.match(open.stderr(), /development mode on a non-loopback address \(0\.0\.0\.0\): root requests need a key/);
      assert.equal((await api(open, 'GET', '/todos/count', undefined, { 'dpd-ssh-key': 'anything' })).status, 403);
      assert.equal((await api(open, 'GET', '/todos/count', undefined, { 'dpd-ssh-key': key })).status, 200);
      assert.equal((await api(open, 'GET', '/todos/count', undefined, { cookie: `DpdSshKey=${key}` })).status, 200);
    } finally {
      assert.equal(await open.stop(), 0);
    }
  });
});
