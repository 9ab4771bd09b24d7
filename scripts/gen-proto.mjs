#!/usr/bin/env node
// Regenerates src/wire/gen from proto/ with the pinned buf + protoc-gen-es, but only when a
// .proto file (or the generator config) is newer than the last generation.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'src', 'wire', 'gen');
const stamp = join(out, '.generated');

function newestMtime(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

const inputs = [
  join(root, 'proto'),
  join(root, 'buf.gen.yaml'),
  join(root, 'buf.yaml'),
  join(root, 'package-lock.json'),
];
const newestInput = Math.max(...inputs.filter(existsSync).map(newestMtime));
const force = process.argv.includes('--force');
if (!force && existsSync(stamp) && statSync(stamp).mtimeMs >= newestInput) process.exit(0);

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
execFileSync(join(root, 'node_modules', '.bin', 'buf'), ['generate'], { cwd: root, stdio: 'inherit' });
writeFileSync(stamp, new Date().toISOString() + '\n');
