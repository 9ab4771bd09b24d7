#!/usr/bin/env node
// The `strata` command. The TypeScript sources are compiled to dist/ by `npm run build`.
//
// CommonJS on purpose: an agent's file work (sandboxes, image rootfses, cgroups; cgroup removal is
// slow in the kernel) goes through libuv's thread pool, 4 threads by default, and at dozens of
// launches a second the launches queue behind teardowns. The pool reads UV_THREADPOOL_SIZE when it
// is created; Node's ES module loader creates it before an ES module's first line runs, a
// CommonJS entry runs first.
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

if (['agent', 'local'].includes(process.argv[2] ?? '')) process.env.UV_THREADPOOL_SIZE ??= '16';

const entry = join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (!existsSync(entry)) {
  console.error('strata: not built yet; run `npm run build` (or `npm start`) in the repository first');
  process.exit(1);
}
import(pathToFileURL(entry).href).catch((err) => {
  console.error(err);
  process.exit(1);
});
