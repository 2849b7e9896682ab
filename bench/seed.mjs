// Seeds the standard bench app through the HTTP API (PERFORMANCE.md): N todos with score uniform in 0–1000.
// Writes the ids, one per line, to the file given as the third argument; creates user "bench", logs it in and
// writes its session id to "<file>.sid" (W5).
//   node bench/seed.mjs http://127.0.0.1:2502 10000 /tmp/ids.txt
import fs from 'node:fs';

const [base, n, out] = [process.argv[2], Number(process.argv[3] || 10000), process.argv[4]];
const ids = [];
let next = 0;
async function worker() {
  while (next < n) {
    const i = next++;
    const r = await fetch(base + '/todos', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: `todo ${i}`, done: i % 2 === 0, score: Math.floor(Math.random() * 1001) }),
    });
    if (!r.ok) throw new Error(`seed failed: ${r.status} ${await r.text()}`);
    ids.push((await r.json()).id);
  }
}
await Promise.all(Array.from({ length: 32 }, worker));
fs.writeFileSync(out, ids.join('\n') + '\n');

// W5: one user and its session id (next to the ids file, as "<ids file>.sid").
const post = (path, body) => fetch(base + path, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
});
await post('/users', { username: 'bench', password: 'bench-password' });
const login = await post('/users/login', { username: 'bench', password: 'bench-password' });
if (!login.ok) throw new Error(`login failed: ${login.status} ${await login.text()}`);
fs.writeFileSync(out + '.sid', (await login.json()).id);
