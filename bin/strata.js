#!/usr/bin/env node
// The `strata` command. The TypeScript sources are compiled to dist/ by `npm run build`.
import { existsSync } from 'node:fs';

// An agent's file work (sandboxes, image rootfses, cgroups; cgroup removal is slow in the kernel)
// goes through libuv's thread pool, 4 threads by default: at dozens of launches a second the
// launches queue behind teardowns. Set before the first asynchronous file call creates the pool.
if (['agent', 'local'].includes(process.argv[2] ?? '')) process.env.UV_THREADPOOL_SIZE ??= '16';

import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error('strata: not built yet; run `npm run build` (or `npm start`) in the repository first');
  process.exit(1);
}
await import(entry.href);
