// Event scripts, the asynchronous part: the in-process `dpd` client (spec §10) with callbacks, promises and
// errors as values, async completion (spec §6.8), the recursion guard, and the hostile scripts of RELIABILITY.md
// B3 ("Event scripts") — each followed by a clean request on the same server.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { api, assertAlive, copyFixture, startDpd } from './harness.mjs';


describe('internal client and async completion', () => {
  let server;
  let appDir;
  before(async () => {
    appDir = copyFixture('internal');
    server = await startDpd(appDir, [
      '--limit', 'script.event_time_ms=700', '--limit', 'script.internal_calls=20', '--limit', 'script.emits=1000',
      '--limit', 'script.recursion_max=3',
    ]);
  });
  after(async () => { assert.equal(await server.stop(), 0); });

  test('callbacks and promises are awaited; internal, root flag, headers and errors as values', async () => {
    let r = await api(server, 'POST', '/projects', { name: 'alpha' }, { 'x-test': 'h1' });
    assert.equal(r.status, 200, r.text);
    const p = r.json;
    assert.equal(p.callbackThisIsEvent, true, 'callbacks run with this = the event object');
    assert.equal(p.firstTodo, 'alpha task');
    assert.equal(p.todoMadeInternally, true, '`internal` is true in the called collection');
    assert.equal(p.todoSawRoot, false);
    assert.equal(p.todoSawHeader, 'h1', "the caller's headers travel with the call");
    assert.deepEqual(p.missing, { result: null, error: { message: 'not found', statusCode: 404, status: 404 } });
    assert.equal(p.countRefused, 403, '/count stays root-only through dpd');
    assert.deepEqual(p.clients, ['chainlog', 'chains', 'hostile', 'projects', 'recursive', 'todos']);
    // as root, the root flag travels too
    r = await api(server, 'POST', '/projects', { name: 'beta' }, { 'dpd-ssh-key': 'any' });
    assert.equal(r.json.todoSawRoot, true);
    assert.equal(typeof r.json.count, 'number');
    // a client's own POST is not internal
    r = await api(server, 'POST', '/todos', { title: 'direct' });
    assert.equal(r.json.madeInternally, false);
    assert.equal(r.json.reqInternal, false);
  });

  test('a Get event over a list waits for each document’s calls', async () => {
    await api(server, 'POST', '/projects', { name: 'gamma' });
    await api(server, 'POST', '/todos', { title: 'second gamma task', project: 'gamma' });
    const r = await api(server, 'GET', '/projects?name=gamma');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json[0].tasks.sort(), ['gamma task', 'second gamma task']);
  });

  test('the promise chain of spec §6.8; errors in handlers and callbacks', async () => {
    let r = await api(server, 'POST', '/chains', { name: 'chain' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.first, true);
    assert.equal(r.json.seenError, 'test');
    assert.equal(r.json.seenFinally, true);
    assert.ok(!('shouldNotBeSet1' in r.json) && !('shouldNotBeSet2' in r.json));
    r = await api(server, 'POST', '/chains', { name: 'unhandled' });
    assert.equal(r.text, '{"message":"unhandled in then","status":400}');
    r = await api(server, 'POST', '/chains', { name: 'callback-throws' });
    assert.equal(r.text, '{"message":"teapot","status":418}');
    r = await api(server, 'POST', '/chains', { name: 'callback-cancels' });
    assert.equal(r.text, '{"message":"cancelled later","statusCode":409,"status":409}');
    r = await api(server, 'POST', '/chains', { name: 'nested' });
    assert.deepEqual(r.json.nested, ['n1', 'n2']);
    r = await api(server, 'POST', '/chains', { name: 'manual' });
    assert.equal(r.json.manual, true, '$addCallback/$finishCallback hold the event open');
    const before = (await api(server, 'GET', '/chains')).json.length;
    r = await api(server, 'POST', '/chains', { name: 'stuck' });
    assert.equal(r.status, 500);
    assert.match(r.json.message, /^resources\/chains\/post\.js: script did not finish within 700 ms/);
    assert.equal((await api(server, 'GET', '/chains')).json.length, before, 'a failed event wrote nothing');
  });

  test('recursion guard: two nested levels by default, $limitRecursion raises it', async () => {
    const doc = (await api(server, 'POST', '/recursive', { name: 'r' })).json;
    let r = await api(server, 'GET', `/recursive/${doc.id}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.child.child.child, null, 'level 3 gets null');
    assert.equal(r.json.child.child.refused, `Recursive call to GET /recursive detected`);
    assert.ok(!('refused' in r.json.child));
    r = await api(server, 'GET', `/recursive/${doc.id}?$limitRecursion=3`);
    assert.equal(r.json.child.child.child.child, null);
    assert.equal(typeof r.json.child.child.child.id, 'string');
    r = await api(server, 'GET', `/recursive/${doc.id}?$limitRecursion=50`);
    assert.equal(r.status, 400, 'above script.recursion_max (3 here): refused, never silently cut');
    assert.equal(r.json.message, '$limitRecursion may be at most 3 (script.recursion_max)');
  });

  test('an event script edited, added or broken on disk is picked up while the server runs', async () => {
    const dir = path.join(appDir, 'resources', 'chainlog');
    const waitFor = async (check) => {
      for (let i = 0; i < 40; i++) {
        const r = await api(server, 'GET', '/chainlog?$limit=1');
        if (check(r)) return r;
        await new Promise((res) => setTimeout(res, 100));
      }
      assert.fail('the change was not picked up within 4 s');
    };
    await api(server, 'POST', '/chainlog', { n: 1 });
    fs.writeFileSync(path.join(dir, 'get.js'), 'this.version = 1;');
    await waitFor((r) => r.status === 200 && r.json[0].version === 1);
    fs.writeFileSync(path.join(dir, 'get.js'), 'this.version = 2; // edited');
    await waitFor((r) => r.status === 200 && r.json[0].version === 2);
    fs.writeFileSync(path.join(dir, 'get.js'), 'this.version = ;');
    const broken = await waitFor((r) => r.status === 400);
    assert.match(broken.json.message, /SyntaxError/);
    // The reload's warm-up logs the problem from the workers' queues: the request may compile the script (and fail)
    // first, and the line reaches this process's pipe a little later.
    for (let i = 0; i < 50 && !/event script: resources\/chainlog\/get\.js:1: SyntaxError/.test(server.stderr()); i++) {
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.match(server.stderr(), /event script: resources\/chainlog\/get\.js:1: SyntaxError/);
    fs.unlinkSync(path.join(dir, 'get.js'));
    await waitFor((r) => r.status === 200 && !('version' in r.json[0]));
  });

  test('the number of dpd calls in one request is bounded', async () => {
    const r = await api(server, 'POST', '/hostile', { mode: 'calls', n: 25 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ok, 20);
    assert.equal(r.json.refused, 5);
  });

  test('hostile scripts fail with a defined error and leave nothing behind', async () => {
    const cases = [
      ['recursion', 400, /Maximum call stack size exceeded/],
      ['throw42', 400, /^42$/],
      ['cancelEmpty', 400, /^$/],
      ['emits', 400, /^emit: more than 1000 emits in one event/],
    ];
    for (const [mode, status, message] of cases) {
      const r = await api(server, 'POST', '/hostile', { mode });
      assert.equal(r.status, status, `${mode}: ${r.text}`);
      assert.match(r.json.message, message, mode);
    }
    let r = await api(server, 'POST', '/hostile', { mode: 'proto' });
    assert.equal(r.status, 200, r.text);
    assert.ok(!('admin' in r.json));
    r = await api(server, 'POST', '/hostile', { mode: 'changeId' });
    assert.notEqual(r.json.id, 'hacked', 'the store keeps the id it generated');
    assert.equal((await api(server, 'GET', `/hostile/${r.json.id}`)).status, 200);
    r = await api(server, 'POST', '/hostile', { mode: 'globals' });
    assert.equal(r.json.sawLeak, 'undefined');
    r = await api(server, 'POST', '/hostile', { mode: 'check' });
    assert.equal(r.json.leak, 'undefined,undefined,undefined,undefined', 'no global or prototype survives a call');
    await assertAlive(server);
  });

  test('__proto__ in request data does not reach objects handed to scripts', async () => {
    let r = await fetch(`${server.base}/todos`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: '{"title":"p","__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}',
    });
    assert.equal(r.status, 200, await r.text());
    r = await fetch(`${server.base}/todos?__proto__[polluted]=1&constructor[prototype][polluted]=1`);
    assert.notEqual(r.status, 500, await r.text());
    r = await fetch(`${server.base}/todos`);
    assert.equal(r.status, 200);
  });
});
