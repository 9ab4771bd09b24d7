/**
 * The logrotate logger's companion process (container-logger.ts): copies its stdin into one
 * sandbox file, rotating by size, and exits at end of file. One runs per stream of a container
 * when `--container_logger=logrotate`.
 *
 * `node logrotate-logger.js --path=<file> --max_size=<bytes> --keep=<n>`. A write that fails (a
 * full disk) is dropped and the stream keeps being drained, so the container never blocks on a
 * full pipe or dies of SIGPIPE because its logger gave up.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { MIN_LOGROTATE_SIZE, RotatingFile } from './container-logger.js';

interface CompanionArgs {
  path: string;
  maxSize: number;
  keep: number;
}

export function parseCompanionArgs(argv: readonly string[]): CompanionArgs | string {
  const values = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([a-z_]+)=(.*)$/s.exec(arg);
    if (!match) return `unexpected argument '${arg}'`;
    values.set(match[1]!, match[2]!);
  }
  const path = values.get('path');
  const maxSize = Number(values.get('max_size'));
  const keep = Number(values.get('keep') ?? '0');
  if (!path) return 'missing --path';
  if (!Number.isInteger(maxSize) || maxSize < MIN_LOGROTATE_SIZE)
    return `bad --max_size '${values.get('max_size')}'`;
  if (!Number.isInteger(keep) || keep < 0) return `bad --keep '${values.get('keep')}'`;
  return { path, maxSize, keep };
}

function main(): void {
  const args = parseCompanionArgs(process.argv.slice(2));
  if (typeof args === 'string') {
    process.stderr.write(`logrotate-logger: ${args}\n`);
    process.exit(2);
  }
  // Signals meant for the agent's terminal must not cut the log short; end of file ends it.
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
  let file: RotatingFile | undefined;
  const write = (chunk: Buffer) => {
    try {
      file ??= new RotatingFile(args.path, { maxSize: args.maxSize, keep: args.keep });
      file.write(chunk);
    } catch {
      // The sandbox may be full or gone (garbage collected): drop the chunk, keep draining.
      try {
        file?.close();
      } catch {
        // already closed
      }
      file = undefined;
    }
  };
  process.stdin.on('data', write);
  process.stdin.on('end', () => {
    file?.close();
    process.exit(0);
  });
  process.stdin.on('error', () => process.exit(0));
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) main();
