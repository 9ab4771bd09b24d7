#!/usr/bin/env node
// One entry point for every test tier. `all` first enforces the linter/formatter, then runs the
// unit, integration and system tiers in one node:test run, so CI reads a single summary.
//   unit         pure, fast, no processes or sockets of their own
//   integration  real processes on loopback
//   system       root and kernel features (cgroups, namespaces, overlay); skip with a reason otherwise
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tiers = {
  unit: ['unit'],
  integration: ['integration'],
  system: ['system'],
  all: ['unit', 'integration', 'system'],
};
const which = process.argv[2] ?? 'all';
if (!(which in tiers)) {
  console.error(`run-tests: unknown tier '${which}'; expected one of ${Object.keys(tiers).join(', ')}`);
  process.exit(2);
}

if (which === 'all') {
  const lint = spawnSync(join(root, 'node_modules', '.bin', 'biome'), ['check', '.'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (lint.status !== 0) {
    console.error(
      'run-tests: `biome check .` failed; run `npm run format` to fix formatting, then fix the lint errors',
    );
    process.exit(lint.status ?? 1);
  }
}

const dirs = tiers[which].map((t) => join(root, 'dist', 'test', t)).filter(existsSync);
const extra = process.argv.slice(3);
const args = [
  '--enable-source-maps',
  '--test',
  `--test-concurrency=${Math.max(2, availableParallelism())}`,
  '--test-timeout=300000',
  ...extra,
  ...dirs,
];
const run = spawnSync(process.execPath, args, {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, STRATA_ROOT: root },
});
process.exit(run.status ?? 1);
