/**
 * What every operator command shares: `--master` (else `STRATA_MASTER`, else
 * http://127.0.0.1:5050), `--json`, and examples in `--help`.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { MasterApi, masterUrl } from './api.js';

export interface CommonOptions {
  master?: string;
  json?: boolean;
}

export function withMaster(command: Command): Command {
  return command.option(
    '--master <url>',
    'master address, host:port or http://host:port (default: $STRATA_MASTER, else http://127.0.0.1:5050)',
  );
}

export function withJson(command: Command): Command {
  return command.option('--json', 'print JSON (for scripts) instead of a table');
}

export function examples(command: Command, lines: string[]): Command {
  return command.addHelpText('after', `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}`);
}

export function masterApi(options: CommonOptions): MasterApi {
  return new MasterApi(masterUrl(options.master));
}

/** A whole number option; commander reports a bad one naming the flag. */
export function parseCount(flag: string, min = 0) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${flag} must be a whole number ≥ ${min}, got '${value}'`);
    return n;
  };
}

/** Commander keeps `--kill_after` as `kill_after`: Mesos-style flag names → camelCase keys. */
export function camelOptions<T>(raw: Record<string, unknown>): T {
  return Object.fromEntries(
    Object.entries(raw).map(([k, v]) => [k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()), v]),
  ) as T;
}
