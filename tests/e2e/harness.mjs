// End-to-end harness: starts a real `dpd` process on an ephemeral port with a copy of a fixture app folder and
// talks to it over real sockets. Later issues add their scenarios beside these.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');
export const fixturesDir = path.join(repoRoot, 'tests', 'fixtures', 'apps');
export const dpdBin = process.env.DPD_BIN || path.join(repoRoot, 'build', 'release', 'src', 'cli', 'dpd');

/** A fresh temporary folder, removed at process exit. */
export function tempDir(prefix = 'dpd-e2e-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Copies fixture app `name` into a temp folder and returns its path. */
export function copyFixture(name) {
  const dest = path.join(tempDir(), name);
  fs.cpSync(path.join(fixturesDir, name), dest, { recursive: true, verbatimSymlinks: true });
  return dest;
}

/** Runs the dpd binary to completion (for CLI tests). */
export function runDpd(args, opts = {}) {
  const r = spawnSync(dpdBin, args, { encoding: 'utf8', timeout: 20000, ...opts });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Starts dpd serving `appDir` on an ephemeral port. Resolves once it prints "listening on port N".
 * Returns { port, proc, stderr(), stop(signal) → exit code }.
 */
export async function startDpd(appDir, args = [], env = {}) {
  // DPD_TEST_DB runs a suite on another store (tests/e2e/mongo.test.mjs sets a mongodb:// URL).
  if (process.env.DPD_TEST_DB && !args.includes('--db')) args = [...args, '--db', process.env.DPD_TEST_DB];
  const proc = spawn(dpdBin, [appDir, '--port', '0', ...args], {
    env: { ...process.env, DPD_ENV: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => {
    // DPD_LOG_DIR keeps every server's log of the run: tests/check-logs.mjs then looks for secrets in them.
    if (process.env.DPD_LOG_DIR) {
      fs.mkdirSync(process.env.DPD_LOG_DIR, { recursive: true });
      fs.writeFileSync(path.join(process.env.DPD_LOG_DIR, `${process.pid}-${proc.pid}.log`), err);
    }
    resolve(code ?? signal);
  }));
  const port = await new Promise((resolve, reject) => {
    // A server that does not come up in time is killed: a child left running would keep the test file (and the whole
    // run) from ever finishing.
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`dpd did not start within 30 s:\nstdout: ${out}\nstderr: ${err}`));
    }, 30000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on port (\d+)/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    exited.then((code) => { clearTimeout(timer); reject(new Error(`dpd exited (${code}):\n${err}`)); });
  });
  return {
    port,
    proc,
    base: `http://127.0.0.1:${port}`,
    stderr: () => err,
    exited,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/**
 * Sends raw bytes on a new connection and collects everything the server sends until it closes the connection
 * or `idleMs` pass without data. Returns { data, closed }.
 */
export function rawExchange(port, chunks, { idleMs = 1500, delayMs = 0, localAddress } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1', localAddress });
    let data = Buffer.alloc(0);
    let timer;
    const finish = (closed) => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ data: data.toString('latin1'), closed });
    };
    const arm = () => { clearTimeout(timer); timer = setTimeout(() => finish(false), idleMs); };
    sock.on('data', (d) => { data = Buffer.concat([data, d]); arm(); });
    sock.on('close', () => finish(true));
    sock.on('error', () => {});
    sock.on('connect', async () => {
      arm();
      for (const c of [].concat(chunks)) {
        if (sock.destroyed) break;
        sock.write(c);
        if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      }
    });
  });
}

/** Runs `fn(i)` for i < n with at most `width` at once; resolves with the results in order. */
export async function pool(n, width, fn) {
  let next = 0;
  const results = new Array(n);
  await Promise.all(Array.from({ length: Math.min(width, n) }, async () => {
    while (next < n) {
      const i = next++;
      results[i] = await fn(i);
    }
  }));
  return results;
}

/** Open file descriptors / resident memory (bytes) of process `pid`. */
export const fdCount = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;
export const rssBytes = (pid) => {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return Number(m[1]) * 1024;
};

/** Status code of the first response in raw HTTP text (0 when none). */
export function statusOf(raw) {
  const m = raw.match(/^HTTP\/1\.1 (\d{3})/);
  return m ? Number(m[1]) : 0;
}

/** fetch() against the server with no redirect following. */
export async function get(server, urlPath, init = {}) {
  return fetch(server.base + urlPath, { redirect: 'manual', ...init });
}

/** Asserts the server still answers: GET /__health is 200. */
export async function assertAlive(server) {
  const r = await fetch(server.base + '/__health');
  if (r.status !== 200) throw new Error(`server not healthy: ${r.status}`);
  await r.text();
}

/**
 * One request to a running dpd: `body` is sent as JSON (a string as is, with Content-Type application/json unless
 * `headers` says otherwise). Returns { status, text, json (undefined when the body is not JSON), headers }.
 */
export async function api(server, method, path, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    if (!('content-type' in init.headers)) init.headers['content-type'] = 'application/json';
  }
  const r = await fetch(server.base + path, init);
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, text, json, headers: r.headers };
}

// CongoDB, the MongoDB wire-protocol test double (tests/mongo/congo.mjs), on `port` (0: any free one).
export async function startCongo(port = 0, seed) {
  const args = [path.join(repoRoot, 'tests', 'mongo', 'congo.mjs'), String(port)];
  if (seed) args.push(seed);
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const p = await new Promise((resolve, reject) => {
    const t = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error('CongoDB did not start')); }, 10000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on port (\d+)/);
      if (m) { clearTimeout(t); resolve(Number(m[1])); }
    });
    proc.on('exit', (c) => { clearTimeout(t); reject(new Error(`CongoDB exited ${c}`)); });
  });
  return { port: p, stop: () => new Promise((r) => { proc.once('exit', r); proc.kill('SIGKILL'); }) };
}
