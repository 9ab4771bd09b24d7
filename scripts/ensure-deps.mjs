#!/usr/bin/env node
import { execFileSync } from 'node:child_process';
// Makes `npm start`, `npm test` and `npm run bench` self-sufficient on a fresh machine:
// installs npm packages when the lock file changed since the last install, and (as root) runs
// the idempotent host set-up. Cheap when nothing changed, so it runs before every command.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lock = join(root, 'package-lock.json');
const stamp = join(root, 'node_modules', '.strata-lock-sha256');

const want = createHash('sha256').update(readFileSync(lock)).digest('hex');
const have = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : '';
if (want !== have) {
  console.error('ensure-deps: installing npm packages (npm ci)');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: root, stdio: 'inherit' });
  writeFileSync(stamp, want + '\n');
}

if (process.getuid?.() === 0 && process.env.STRATA_SKIP_HOST_SETUP !== '1') {
  execFileSync('bash', [join(root, 'scripts', 'setup-host.sh')], { cwd: root, stdio: 'inherit' });
}
