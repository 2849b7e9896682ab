#!/usr/bin/env node
// Regression detection (issue #15 item 5): runs C0 and the W1–W6 workloads in one run (bench/run.sh), divides each
// workload's req/s by C0's, and compares the ratios with bench/baseline.json:
//   ratio ≥ baseline × (1 − tolerance) (the baseline's tolerance, or its own per workload): ok (or "better" above baseline × (1 + tolerance)); below: "REGRESSED".
// Exit 1 when a workload regressed or failed (wrk errors, non-2xx answers, no requests).
//
//   make bench-compare                       DURATION=20 by default; the baseline's own settings are printed
//   node bench/compare.mjs --smoke           a second per workload on a small seed: checks that every workload
//                                            runs without errors and never judges a timing (CI, make test)
//   node bench/compare.mjs --update          writes the measured ratios as the new baseline
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const baselineFile = path.join(root, 'bench', 'baseline.json');
const smoke = process.argv.includes('--smoke');
const update = process.argv.includes('--update');
const workloads = ['W1', 'W2', 'W3', 'W4', 'W5', 'W6'];

const resultFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dpd-compare-')), 'result.json');
const env = {
  ...process.env,
  RESULT_JSON: resultFile,
  DURATION: process.env.DURATION || (smoke ? '1' : '20'),
  SEED: process.env.SEED || (smoke ? '300' : '10000'),
};
if (smoke) env.RESULTS_MD = '/dev/null';
const run = spawnSync(path.join(root, 'bench', 'run.sh'), ['C0', ...workloads], { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] });
if (run.status !== 0 || !fs.existsSync(resultFile)) {
  console.error(`bench/compare: bench/run.sh failed (exit ${run.status})`);
  process.exit(1);
}
const result = JSON.parse(fs.readFileSync(resultFile, 'utf8'));
const baseline = JSON.parse(fs.readFileSync(baselineFile, 'utf8'));
// One tolerance for all, or the baseline's own for the workloads that swing more (durable writes: fsync).
const toleranceOf = (w) => Number(process.env.TOLERANCE || baseline.tolerances?.[w] || baseline.tolerance);

let failed = 0;
const rows = [];
for (const w of workloads) {
  const r = result.workloads[w];
  const ratio = result.c0_rps > 0 && r ? r.rps / result.c0_rps : 0;
  const base = baseline.ratios[w];
  let verdict;
  if (!r || !(r.rps > 0) || r.errors !== 'none') {
    verdict = `FAILED (${r ? r.errors || 'no requests' : 'not run'})`;
    failed++;
  } else if (smoke) {
    verdict = 'runs';
  } else if (ratio < base * (1 - toleranceOf(w))) {
    verdict = 'REGRESSED';
    failed++;
  } else {
    verdict = ratio > base * (1 + toleranceOf(w)) ? 'better' : 'ok';
  }
  rows.push([w, r ? r.rps.toFixed(0) : '-', r ? r.p99 : '-', ratio.toFixed(3), `${base.toFixed(3)} ±${Math.round(100 * toleranceOf(w))} %`, verdict]);
}
console.log(`\nbench/compare: C0 ${result.c0_rps.toFixed(0)} req/s, ${result.duration} s per workload, ${result.seed} todos;`
  + ` baseline ${baseline.measured}${smoke ? ' — smoke run: timings not judged' : ''}\n`);
console.log('| workload | req/s | p99 | ratio to C0 | baseline | verdict |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const row of rows) console.log(`| ${row.join(' | ')} |`);
if (update && !smoke && !failed) {
  baseline.ratios = Object.fromEntries(rows.map((row) => [row[0], Number(row[3])]));
  baseline.measured = `${new Date().toISOString().slice(0, 10)}, ${result.duration} s, ${result.connections} connections, ${result.seed} todos`;
  fs.writeFileSync(baselineFile, `${JSON.stringify(baseline, null, 2)}\n`);
  console.log(`\nbaseline written to ${path.relative(root, baselineFile)}`);
}
process.exit(failed ? 1 : 0);
