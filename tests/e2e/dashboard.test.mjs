// The dashboard in Chromium (issue #14): a newcomer's whole path on a freshly created app — open /dashboard/, create
// a collection, add three properties, write a post.js with a syntax error (flagged with its line, the save refused),
// fix and save it, add two rows in the Data page, read them back through /dpd.js in another tab and see that tab's
// realtime event, rename a property (the stored field follows), delete the collection. A screenshot of each page
// goes to tests/output/dashboard/ (DASHBOARD_SHOTS to choose another folder).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { api, repoRoot, runDpd, startDpd, tempDir } from './harness.mjs';

const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const shots = process.env.DASHBOARD_SHOTS || path.join(repoRoot, 'tests', 'output', 'dashboard');

describe('the dashboard in Chromium', () => {
  let server;
  let browser;
  let page;
  let appDir;
  const shot = (name) => page.screenshot({ path: path.join(shots, name) });

  before(async () => {
    fs.mkdirSync(shots, { recursive: true });
    appDir = path.join(tempDir(), 'my-app');
    assert.equal(runDpd(['create', appDir]).code, 0);
    server = await startDpd(appDir);
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('dialog', (d) => d.accept());
  });
  after(async () => {
    await browser?.close();
    assert.equal(await server.stop(), 0);
  });

  test('/dashboard answers as Deployd\'s does', async () => {
    const r = await fetch(`${server.base}/dashboard`, { redirect: 'manual' });
    assert.equal(r.status, 301);
    assert.equal(r.headers.get('location'), '/dashboard/');
    assert.equal(await r.text(), '');
    assert.deepEqual(await (await fetch(`${server.base}/dashboard/__is-root`)).json(), {});
    assert.deepEqual(await (await fetch(`${server.base}/dashboard/__is-root`, { headers: { 'dpd-ssh-key': 'true' } })).json(),
      { isRoot: true });
  });

  test('a newcomer authors an app in the browser', async () => {
    await page.goto(`${server.base}/dashboard/`);
    await page.waitForSelector('[data-test=new-resource]');
    assert.match(await page.textContent('main'), /Create a collection/);
    await shot('1-overview-empty.png');

    // Create a collection: the path is normalised as Deployd's dashboard does.
    await page.click('[data-test=new-resource]');
    await page.fill('input[name=path]', 'My Todos');
    assert.equal(await page.textContent('.modal .hint'), 'Will be served at /my-todos');
    await shot('2-new-resource.png');
    await page.click('[data-test=create]');
    await page.waitForSelector('[data-test=properties]');
    assert.equal(new URL(page.url()).pathname, '/dashboard/my-todos/properties/');
    assert.equal((await api(server, 'GET', '/my-todos')).text, '[]', 'the collection is served at once');

    // Three properties.
    for (const [n, t] of [['title', 'string'], ['done', 'boolean'], ['priority', 'number']]) {
      await page.fill('input[name=new-property]', n);
      await page.selectOption('select[name=new-type]', t);
      await page.click('[data-test=add-property]');
      await page.waitForSelector(`tr[data-property=${n}]`);
    }
    const readConfig = () => JSON.parse(fs.readFileSync(path.join(appDir, 'resources', 'my-todos', 'config.json'), 'utf8'));
    let config = readConfig();
    assert.deepEqual(Object.keys(config.properties), ['title', 'done', 'priority']);
    assert.equal(config.properties.priority.type, 'number');
    assert.equal(config.properties.done.order, 1);
    // required, reorder, a property added and deleted, a type changed. The saves are slowed down so that "Move up"
    // comes while "required" is still being saved: the second edit must not undo the first (it did, now and then).
    const slowSaves = async (route) => {
      if (route.request().method() === 'PUT') await new Promise((r) => setTimeout(r, 300));
      await route.continue();
    };
    await page.route('**/__resources/**', slowSaves);
    await page.check('tr[data-property=title] input[type=checkbox]');
    await page.waitForFunction(() => document.querySelector('tr[data-property=title] input[type=checkbox]')?.checked);
    await page.click('tr[data-property=priority] button[title="Move up"]');
    await page.waitForFunction(() => [...document.querySelectorAll('tr[data-property]')].map((tr) => tr.dataset.property)
      .join() === 'title,priority,done');
    await page.unroute('**/__resources/**', slowSaves);
    assert.equal(readConfig().properties.title.required, true, 'moving a property kept the required flag just set');
    await page.fill('input[name=new-property]', 'tags');
    await page.selectOption('select[name=new-type]', 'array');
    await page.click('[data-test=add-property]');
    await page.waitForSelector('tr[data-property=tags]');
    await page.fill('input[name=new-property]', 'temp');
    await page.click('[data-test=add-property]');
    await page.waitForSelector('tr[data-property=temp]');
    await page.click('tr[data-property=temp] button[title="Delete temp"]');
    await page.waitForFunction(() => !document.querySelector('tr[data-property=temp]'));
    config = readConfig();
    assert.deepEqual(Object.keys(config.properties), ['title', 'priority', 'done', 'tags']);
    assert.equal(config.properties.title.required, true);
    assert.deepEqual(Object.values(config.properties).map((p) => p.order), [0, 1, 2, 3]);
    assert.equal(config.properties.tags.type, 'array');
    await shot('3-properties.png');

    // post.js with a syntax error: flagged with its line, and Save refuses it.
    await page.click('.tabs a:text("Events")');
    await page.waitForSelector('.CodeMirror');
    await page.click('a[data-event="post.js"]');
    await page.waitForSelector('.editor[data-loaded]');
    await page.evaluate(() => window.dashboardEditor.setValue('this.createdAt = Date.now();\nif (this.title == "x" {\n  cancel("no");\n}\n'));
    await page.waitForSelector('.status-line.error');
    assert.match(await page.textContent('[data-test=script-status]'), /post\.js:2: SyntaxError/);
    assert.equal(await page.locator('.cm-error-line').count(), 1, 'the line is marked');
    await shot('4-events-syntax-error.png');
    await page.click('[data-test=save-script]');
    await page.waitForSelector('.toast.error');
    assert.ok(!fs.existsSync(path.join(appDir, 'resources', 'my-todos', 'post.js')), 'nothing saved');
    // Fixed and saved.
    await page.evaluate(() => window.dashboardEditor.setValue('this.createdAt = Date.now();\nemit("my-todos:changed", this);\n'));
    await page.waitForSelector('.status-line.ok');
    await page.click('[data-test=save-script]');
    await page.waitForFunction(() => /Saved On Post/.test(document.getElementById('toast').textContent));
    assert.match(fs.readFileSync(path.join(appDir, 'resources', 'my-todos', 'post.js'), 'utf8'), /emit\("my-todos:changed"/);
    await shot('5-events-saved.png');

    // Two rows in the Data page.
    await page.click('.tabs a:text("Data")');
    await page.waitForSelector('[data-test=add-row]');
    for (const [t, p] of [['Buy milk', '1'], ['Write docs', '2']]) {
      await page.click('[data-test=add-row]');
      await page.fill('tr.new-row input[data-column=title]', t);
      await page.fill('tr.new-row input[data-column=priority]', p);
      await page.click('[data-test=save-row]');
      await page.waitForFunction((text) => [...document.querySelectorAll('td[data-column=title]')]
        .some((td) => td.textContent === text), t);
    }
    assert.equal(await page.textContent('[data-test=count]'), '1–2 of 2');
    await shot('6-data.png');

    // Another tab reads them through /dpd.js, and gets the realtime event of a post made there (once the Data page's
    // own socket is up, so that it hears the event too).
    await page.evaluate(() => new Promise((resolve) => dpd.socketReady(resolve)));
    const other = await browser.newPage();
    await other.goto(`${server.base}/`);
    await other.addScriptTag({ url: '/dpd.js' });
    const seen = await other.evaluate(async () => {
      const rows = await dpd.mytodos.get({ $sort: { priority: 1 } });
      const event = new Promise((resolve) => dpd.mytodos.on('changed', resolve));
      await new Promise((resolve) => dpd.socketReady(resolve));
      await dpd.mytodos.post({ title: 'From the app', priority: 3 });
      const late = new Promise((resolve) => setTimeout(() => resolve('no event within 5 s'), 5000));
      return { rows: rows.map((r) => [r.title, r.priority]), event: await Promise.race([event, late]) };
    });
    assert.deepEqual(seen.rows, [['Buy milk', 1], ['Write docs', 2]]);
    assert.equal(seen.event.title, 'From the app');
    assert.ok(seen.event.createdAt > 0, 'post.js ran for the app\'s write');
    // The Data page, listening for my-todos:changed, shows the new row without a reload.
    await page.waitForFunction(() => [...document.querySelectorAll('td[data-column=title]')]
      .some((td) => td.textContent === 'From the app'));
    assert.equal(await page.textContent('[data-test=count]'), '1–3 of 3');
    await other.close();

    // Jump to a document by id (index-of).
    const milk = (await api(server, 'GET', '/my-todos?title=Buy%20milk')).json[0].id;
    await page.fill('input[name=goto]', milk);
    await page.press('input[name=goto]', 'Enter');
    await page.waitForSelector(`tr.found[data-id="${milk}"]`);

    // Edit a cell in place.
    await page.click('tr:has(td:text("Buy milk")) td[data-column=priority]');
    await page.fill('tr:has(td:text("Buy milk")) td[data-column=priority] input', '5');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => [...document.querySelectorAll('tr')].some((tr) =>
      tr.textContent.includes('Buy milk') && tr.querySelector('td[data-column=priority]')?.textContent === '5'));
    assert.equal((await api(server, 'GET', '/my-todos?title=Buy%20milk')).json[0].priority, 5);

    // A JSON cell: the array property edited in place (Ctrl+Enter saves a multi-line cell).
    await page.click('tr:has(td:text("Write docs")) td[data-column=tags]');
    await page.fill('tr:has(td:text("Write docs")) td[data-column=tags] textarea', '["docs", "today"]');
    await page.keyboard.press('Control+Enter');
    await page.waitForFunction(() => [...document.querySelectorAll('td[data-column=tags]')]
      .some((td) => td.textContent === '["docs","today"]'));
    assert.deepEqual((await api(server, 'GET', '/my-todos?title=Write%20docs')).json[0].tags, ['docs', 'today']);
    // A row deleted.
    await page.click('tr:has(td:text("From the app")) button[title="Delete this document"]');
    await page.waitForFunction(() => document.querySelector('[data-test=count]').textContent === '1–2 of 2');

    // Rename a property: the stored field follows.
    await page.click('.tabs a:text("Properties")');
    await page.waitForSelector('tr[data-property=title]');
    await page.fill('tr[data-property=title] input[type=text]', 'name');
    await page.press('tr[data-property=title] input[type=text]', 'Tab');
    await page.waitForSelector('tr[data-property=name]');
    const renamed = (await api(server, 'GET', '/my-todos', undefined, { 'dpd-ssh-key': 'true' })).json;
    assert.ok(renamed.length === 2 && renamed.every((d) => typeof d.name === 'string' && d.title === undefined), JSON.stringify(renamed));

    // The API page.
    await page.click('.tabs a:text("API")');
    await page.waitForSelector('pre.sample');
    assert.match(await page.textContent('pre.sample'), /dpd\.mytodos\.get/);
    await shot('7-api.png');

    // Rename the collection from its menu: its documents move with it.
    await page.click('button[aria-label="Menu of /my-todos"]');
    await shot('8-resource-menu.png');
    await page.fill('.modal input[name=path]', 'tasks');
    await page.click('.modal button[type=submit]');
    await page.waitForFunction(() => location.pathname === '/dashboard/tasks/properties/');
    assert.equal((await api(server, 'GET', '/my-todos')).status, 404);
    assert.equal((await api(server, 'GET', '/tasks')).json.length, 2);

    // Delete it (and its data) from its menu.
    await page.click('button[aria-label="Menu of /tasks"]');
    await page.click('[data-test=delete-resource]');
    await page.waitForFunction(() => location.pathname === '/dashboard/');
    assert.equal((await api(server, 'GET', '/tasks')).status, 404);
    assert.ok(!fs.existsSync(path.join(appDir, 'resources', 'tasks')));
    assert.match(await page.textContent('main'), /Create a collection/);
  });

  test('a users collection: its built-in properties and the On Login event', async () => {
    await api(server, 'POST', '/__resources/users', { type: 'UserCollection' }, { 'dpd-ssh-key': 'true' });
    await page.goto(`${server.base}/dashboard/users/properties/`);
    await page.waitForSelector('[data-test=properties]');
    assert.match(await page.textContent('[data-test=properties]'), /username.*password/s);
    await page.goto(`${server.base}/dashboard/users/events/`);
    await page.waitForSelector('a[data-event="login.js"]');
    await page.click('a[data-event="login.js"]');
    await page.waitForSelector('.editor[data-loaded]');
    await page.evaluate(() => window.dashboardEditor.setValue('if (!success) cancel("Wrong password", 401);\n'));
    await page.waitForSelector('.status-line.ok');
    await page.click('[data-test=save-script]');
    await page.waitForFunction(() => /Saved On Login/.test(document.getElementById('toast').textContent));
    await shot('10-users-login-event.png');
    await api(server, 'POST', '/users', { username: 'ann', password: 'right' });
    const bad = await api(server, 'POST', '/users/login', { username: 'ann', password: 'wrong' });
    assert.equal(bad.status, 401);
    assert.equal(bad.json.message, 'Wrong password');
  });

  test('the Rules page: each caller\'s access worked out from the rule, saved into config.json and enforced', async () => {
    const root = { 'dpd-ssh-key': 'true' };
    await api(server, 'POST', '/__resources/memos', { type: 'Collection',
      properties: { text: { type: 'string' }, owner: { type: 'string' } } }, root);
    await page.goto(`${server.base}/dashboard/memos/rules/`);
    await page.waitForSelector('[data-test=rules]');
    assert.match(await page.textContent('[data-effect=count]'), /GuestNo \(403\)/, 'without a rule: Deployd\'s root-only count');
    await page.selectOption('select[name=rule-create]', 'users');
    await page.selectOption('select[name=rule-update]', 'query');
    await page.fill('textarea[name=query-update]', '{"owner": "$me.id"}');
    assert.equal(await page.textContent('[data-effect=update]'),
      'GuestNoUserWhere owner is their own idRootYes, all (update everything)');
    assert.match(await page.textContent('[data-effect=create]'), /GuestNo \(401\)UserYes/);
    await shot('11-rules.png');
    await page.click('[data-test=save-rules]');
    await page.waitForFunction(() => /Rules saved/.test(document.getElementById('toast').textContent));
    const config = JSON.parse(fs.readFileSync(path.join(appDir, 'resources', 'memos', 'config.json'), 'utf8'));
    assert.deepEqual(config.rules, { create: 'users', update: { owner: '$me.id' } });
    assert.equal((await api(server, 'POST', '/memos', { text: 'x' })).status, 401, 'the saved rule is live');
    // A rule naming no property is refused by the server, and the page says why.
    await page.fill('textarea[name=query-update]', '{"ownr": "$me.id"}');
    await page.click('[data-test=save-rules]');
    await page.waitForFunction(() => /"ownr" is not a property/.test(document.getElementById('toast').textContent));
    await api(server, 'DELETE', '/__resources/memos', undefined, root);
  });

  test('outside development the dashboard asks for a key', async () => {
    const dir = path.join(tempDir(), 'prod-app');
    assert.equal(runDpd(['create', dir]).code, 0);
    assert.equal(runDpd(['keygen'], { cwd: dir }).code, 0);
    const key = runDpd(['showkey'], { cwd: dir }).stdout.trim();
    const prod = await startDpd(dir, ['-e', 'production']);
    try {
      const p = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await p.goto(`${prod.base}/dashboard/`);
      await p.waitForSelector('input[name=key]');
      await p.screenshot({ path: path.join(shots, '9-key-form.png') });
      await p.fill('input[name=key]', 'not-a-key');
      await p.press('input[name=key]', 'Enter');
      await p.waitForFunction(() => /not one of this app/.test(document.querySelector('.login .error').textContent));
      await p.fill('input[name=key]', key);
      await p.press('input[name=key]', 'Enter');
      await p.waitForSelector('[data-test=new-resource]');
      await p.close();
    } finally {
      assert.equal(await prod.stop(), 0);
    }
  });
});
