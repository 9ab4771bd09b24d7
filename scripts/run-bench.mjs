#!/usr/bin/env node
// `npm run bench -- <name> [args]` runs dist/bench/<name>.js; with no name it lists them.
// Every benchmark prints one JSON line per measurement: {"bench","case","metric","value","unit"}.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const benchDir = join(root, 'dist', 'bench');
const available = existsSync(benchDir)
  ? readdirSync(benchDir)
      .filter((f) => f.endsWith('.js') && !f.startsWith('_'))
      .map((f) => f.slice(0, -3))
  : [];
const [name, ...rest] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  if (name) console.error(`bench: no benchmark named '${name}'`);
  console.error(`usage: npm run bench -- <name>\navailable: ${available.join(', ') || '(none built)'}`);
  process.exit(name ? 2 : 0);
}
const run = spawnSync(process.execPath, ['--enable-source-maps', join(benchDir, `${name}.js`), ...rest], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(run.status ?? 1);
