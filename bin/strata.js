#!/usr/bin/env node
// The `strata` command. The TypeScript sources are compiled to dist/ by `npm run build`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error('strata: not built yet; run `npm run build` (or `npm start`) in the repository first');
  process.exit(1);
}
await import(entry.href);
