#!/usr/bin/env node
// Start-up time (PERFORMANCE.md; issue #18 item 4): an app of RESOURCES collections (default 50), each a copy of the
// standard app's todos with its event scripts, plus its users collection. Measured from spawning dpd to the first
// 200 from /__ready, polled every 2 ms. The first start also creates every table and index; the later ones are
// restarts of the same folder. Prints the first start and the median/max of the restarts. Target: ≤ 200 ms.
//   node bench/startup.mjs [dpd binary]          RESOURCES=50 RUNS=7
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dpd = process.argv[2] || path.join(root, 'build', 'release', 'src', 'cli', 'dpd');
const resources = Number(process.env.RESOURCES || 50);
const runs = Number(process.env.RUNS || 7);
const port = Number(process.env.PORT || 2504);

const app = fs.mkdtempSync(path.join(os.tmpdir(), 'dpd-startup-'));
fs.cpSync(path.join(root, 'bench', 'app'), app, { recursive: true });
const todos = path.join(app, 'resources', 'todos');
for (let i = 1; i < resources; i++) fs.cpSync(todos, path.join(app, 'resources', `todos${i}`), { recursive: true });
const count = fs.readdirSync(path.join(app, 'resources')).length;

async function ready() {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/__ready`);
    await r.arrayBuffer();
    return r.status === 200;
  } catch {
    return false;
  }
}

async function once() {
  const t0 = process.hrtime.bigint();
  const proc = spawn(dpd, [app, '--port', String(port), '--log-level', 'warn'], { stdio: 'ignore' });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  for (;;) {
    if (await ready()) break;
    if (proc.exitCode !== null) throw new Error(`dpd exited with ${proc.exitCode}`);
    await new Promise((r) => setTimeout(r, 2));
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  proc.kill('SIGTERM');
  await exited;
  return ms;
}

try {
  const first = await once();
  const rest = [];
  for (let i = 0; i < runs; i++) rest.push(await once());
  rest.sort((a, b) => a - b);
  const median = rest[Math.floor(rest.length / 2)];
  console.log(`| resources | first start (creates tables) | restart, median of ${runs} | restart, slowest |`);
  console.log('| --- | --- | --- | --- |');
  console.log(`| ${count} | ${first.toFixed(0)} ms | ${median.toFixed(0)} ms | ${rest[rest.length - 1].toFixed(0)} ms |`);
} finally {
  fs.rmSync(app, { recursive: true, force: true });
}
