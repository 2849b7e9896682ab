// Reads every dpd log a test run kept (DPD_LOG_DIR, one file per server) and fails when one shows a secret: a
// session id or a root key (dpd's are 64+ hex digits; nothing else dpd logs is that long), a password field with
// its value, or a credential header. Run by `make test` after the end-to-end suites.
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
if (!dir || !fs.existsSync(dir)) {
  console.error(`check-logs: no log folder ${dir}`);
  process.exit(1);
}
const rules = [
  ['a session id or key', /[0-9a-f]{64,}/i],
  ['a password value', /password["']?\s*[:=]\s*["']?[^\s,"'}]+/i],
  ['a credential header', /(dpd-ssh-key|authorization|cookie)["']?\s*[:=]\s*["']?\S/i],
];
let files = 0;
let lines = 0;
const found = [];
for (const name of fs.readdirSync(dir)) {
  files++;
  const text = fs.readFileSync(path.join(dir, name), 'utf8');
  for (const line of text.split('\n')) {
    if (!line) continue;
    lines++;
    for (const [what, re] of rules) {
      if (re.test(line)) found.push(`${name}: ${what}: ${line.slice(0, 300)}`);
    }
  }
}
if (found.length) {
  console.error(`check-logs: ${found.length} log lines show secrets:\n${found.slice(0, 20).join('\n')}`);
  process.exit(1);
}
console.log(`check-logs: ${lines} lines of ${files} server logs, no session id, key, password or credential header`);
