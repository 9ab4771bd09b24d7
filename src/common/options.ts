/**
 * One path for every process option. A process declares its flags once (name, kind, default,
 * help); the same table parses argv (`--flag=value` and `--flag value`) and the environment
 * (`STRATA_FLAG`, and Mesos' own `MESOS_FLAG` so existing deployments keep working), validates,
 * prints `--help`, and renders the values for `/flags` and GET_FLAGS.
 *
 * Flag names are Mesos' (`--work_dir`, `--offer_timeout`); a dash spelling (`--work-dir`) is
 * accepted too because people type it.
 */
import { readFileSync } from 'node:fs';
import { fail, StrataError } from './errors.js';
import { formatBytes, formatDuration, parseBytes, parseDuration } from './units.js';

export type OptionKind = 'string' | 'int' | 'number' | 'bool' | 'duration' | 'bytes' | 'enum' | 'list';

export interface Option<T> {
  readonly kind: OptionKind;
  readonly help: string;
  readonly defaultValue: T;
  readonly required: boolean;
  readonly choices?: readonly string[];
  /** Turns the flag's text into a value, or returns a message saying what is wrong with it. */
  // Method syntax on purpose: it makes Option<string> usable where Option<unknown> is expected.
  parse(text: string): { value: T } | { error: string };
  format(value: T): string;
  /** Checks a parsed value against rules the kind alone can't express (ranges, paths). */
  validate?(value: T): string | undefined;
}

interface Common<T> {
  help: string;
  validate?: (value: T) => string | undefined;
}
type WithDefault<T> = Common<T> & { default: T };
type WithoutDefault<T> = Common<T> & { default?: undefined; required?: boolean };

function build<T>(
  kind: OptionKind,
  def: Common<T> & { default?: T; required?: boolean },
  parse: (text: string) => { value: T } | { error: string },
  format: (value: T) => string,
  extra: { choices?: readonly string[] } = {},
): Option<T> {
  return {
    kind,
    help: def.help,
    defaultValue: def.default as T,
    required: def.required ?? false,
    parse,
    format,
    ...(def.validate ? { validate: def.validate } : {}),
    ...extra,
  };
}

const parseNumberText = (text: string, integer: boolean): { value: number } | { error: string } => {
  const trimmed = text.trim();
  const value = Number(trimmed);
  if (trimmed === '' || !Number.isFinite(value)) return { error: `'${text}' is not a number` };
  if (integer && !Number.isInteger(value)) return { error: `'${text}' is not an integer` };
  return { value };
};

export function stringOption(def: WithDefault<string>): Option<string>;
export function stringOption(def: WithoutDefault<string>): Option<string | undefined>;
export function stringOption(
  def: WithDefault<string> | WithoutDefault<string>,
): Option<string> | Option<string | undefined> {
  return build<string | undefined>(
    'string',
    def as unknown as Common<string | undefined>,
    (text) => ({ value: text }),
    (v) => v ?? '',
  );
}

export function intOption(def: WithDefault<number>): Option<number>;
export function intOption(def: WithoutDefault<number>): Option<number | undefined>;
export function intOption(
  def: WithDefault<number> | WithoutDefault<number>,
): Option<number> | Option<number | undefined> {
  return build<number | undefined>(
    'int',
    def as unknown as Common<number | undefined>,
    (t) => parseNumberText(t, true),
    (v) => (v === undefined ? '' : String(v)),
  );
}

export function numberOption(def: WithDefault<number>): Option<number>;
export function numberOption(def: WithoutDefault<number>): Option<number | undefined>;
export function numberOption(
  def: WithDefault<number> | WithoutDefault<number>,
): Option<number> | Option<number | undefined> {
  return build<number | undefined>(
    'number',
    def as unknown as Common<number | undefined>,
    (t) => parseNumberText(t, false),
    (v) => (v === undefined ? '' : String(v)),
  );
}

export function boolOption(def: WithDefault<boolean>): Option<boolean> {
  return build<boolean>(
    'bool',
    def,
    (text) => {
      const t = text.trim().toLowerCase();
      if (t === 'true' || t === '1' || t === 'yes') return { value: true };
      if (t === 'false' || t === '0' || t === 'no') return { value: false };
      return { error: `'${text}' is not a boolean (true or false)` };
    },
    (v) => String(v),
  );
}

/** A duration in milliseconds, written the Mesos way: `30secs`, `5mins`, `100ms`. */
export function durationOption(def: WithDefault<number>): Option<number>;
export function durationOption(def: WithoutDefault<number>): Option<number | undefined>;
export function durationOption(
  def: WithDefault<number> | WithoutDefault<number>,
): Option<number> | Option<number | undefined> {
  return build<number | undefined>(
    'duration',
    def as unknown as Common<number | undefined>,
    (text) => {
      const ms = parseDuration(text);
      return ms === undefined
        ? { error: `'${text}' is not a duration (examples: 100ms, 30secs, 5mins, 2hrs, 1days, 1weeks)` }
        : { value: ms };
    },
    (v) => (v === undefined ? '' : formatDuration(v)),
  );
}

/** A size in bytes, written the Mesos way: `512MB`, `10GB`. */
export function bytesOption(def: WithDefault<number>): Option<number> {
  return build<number>(
    'bytes',
    def,
    (text) => {
      const b = parseBytes(text);
      return b === undefined
        ? { error: `'${text}' is not a byte size (examples: 1024B, 512MB, 10GB)` }
        : { value: b };
    },
    formatBytes,
  );
}

export function enumOption<const C extends readonly string[]>(
  def: WithDefault<C[number]> & { choices: C },
): Option<C[number]> {
  return build<C[number]>(
    'enum',
    def,
    (text) =>
      (def.choices as readonly string[]).includes(text)
        ? { value: text as C[number] }
        : { error: `'${text}' is not one of ${def.choices.join(', ')}` },
    (v) => v,
    { choices: def.choices },
  );
}

/** A comma-separated list, as in `--isolation=cgroups/cpu,cgroups/mem`. */
export function listOption(def: WithDefault<readonly string[]>): Option<readonly string[]> {
  return build<readonly string[]>(
    'list',
    def,
    (text) => ({
      value: text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0),
    }),
    (v) => v.join(','),
  );
}

/** Shared check for `--port` flags. */
export function validPort(port: number): string | undefined {
  return port < 0 || port > 65535 ? `${port} is not a TCP port (0-65535)` : undefined;
}

export type OptionTable = Record<string, Option<unknown>>;
export type OptionValues<T extends OptionTable> = {
  readonly [K in keyof T]: T[K] extends Option<infer V> ? V : never;
};
export type OptionSource = 'default' | 'environment' | 'command line';

export interface ParsedOptions<T extends OptionTable> {
  readonly values: OptionValues<T>;
  readonly sources: { readonly [K in keyof T]: OptionSource };
  /** Arguments that are not flags, in order. */
  readonly positional: readonly string[];
  /** True when `--help` or `-h` was given; the caller prints `formatHelp` and exits. */
  readonly helpRequested: boolean;
}

const canonical = (name: string): string => name.replace(/-/g, '_');

function closestName(name: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of names) {
    const d = editDistance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0]!;
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j]!;
      previous[j] = Math.min(above + 1, previous[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return previous[b.length]!;
}

/** Mesos lets any flag value be `file:///path`, read from that file (for long JSON values). */
function resolveFileValue(flag: string, text: string): string {
  if (!text.startsWith('file://')) return text;
  const path = text.slice('file://'.length);
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    return fail('OPTIONS_BAD_VALUE', { flag, detail: `cannot read '${path}': ${(err as Error).message}` });
  }
}

/**
 * Parses argv and the environment against `table`. Command line beats `STRATA_*`, which beats
 * `MESOS_*`, which beats the default. Throws OPTIONS_* catalogue errors naming the flag.
 */
export function parseOptions<T extends OptionTable>(
  table: T,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): ParsedOptions<T> {
  const names = Object.keys(table);
  const raw = new Map<string, { text: string; source: OptionSource }>();
  const positional: string[] = [];
  let helpRequested = false;

  for (const name of names) {
    const upper = name.toUpperCase();
    const text = env[`STRATA_${upper}`] ?? env[`MESOS_${upper}`];
    if (text !== undefined) raw.set(name, { text, source: 'environment' });
  }

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      helpRequested = true;
      continue;
    }
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const given = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    let name = canonical(given);
    let text: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    let option = table[name];
    if (!option && name.startsWith('no_') && table[name.slice(3)]?.kind === 'bool' && text === undefined) {
      name = name.slice(3);
      option = table[name];
      text = 'false';
    }
    if (!option) {
      const near = closestName(name, names);
      fail('OPTIONS_UNKNOWN_FLAG', { flag: given, hint: near ? ` (did you mean '--${near}'?)` : '' });
    }
    if (text === undefined) {
      if (option.kind === 'bool') {
        const next = argv[i + 1];
        if (next === 'true' || next === 'false') {
          text = next;
          i++;
        } else {
          text = 'true';
        }
      } else {
        const next = argv[i + 1];
        if (next === undefined || next.startsWith('--')) {
          fail('OPTIONS_BAD_VALUE', { flag: given, detail: 'missing value' });
        }
        text = next;
        i++;
      }
    }
    raw.set(name, { text, source: 'command line' });
  }

  const values: Record<string, unknown> = {};
  const sources: Record<string, OptionSource> = {};
  for (const name of names) {
    const option = table[name]!;
    const given = raw.get(name);
    if (!given) {
      if (option.required && !helpRequested) fail('OPTIONS_MISSING', { flag: name });
      values[name] = option.defaultValue;
      sources[name] = 'default';
      continue;
    }
    const where = given.source === 'environment' ? ' (from the environment)' : '';
    const parsed = option.parse(resolveFileValue(name, given.text));
    if ('error' in parsed) fail('OPTIONS_BAD_VALUE', { flag: name, detail: parsed.error + where });
    const problem = option.validate?.(parsed.value);
    if (problem !== undefined) fail('OPTIONS_BAD_VALUE', { flag: name, detail: problem + where });
    values[name] = parsed.value;
    sources[name] = given.source;
  }
  return {
    values: values as OptionValues<T>,
    sources: sources as ParsedOptions<T>['sources'],
    positional,
    helpRequested,
  };
}

/** The flag values as Mesos' `/flags` shows them: every flag that has a value, as text. */
export function renderFlags<T extends OptionTable>(
  table: T,
  values: OptionValues<T>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(table).sort()) {
    const value = (values as Record<string, unknown>)[name];
    if (value === undefined) continue;
    out[name] = table[name]!.format(value);
  }
  return out;
}

/** `--help` text generated from the table, so it can never drift from what is parsed. */
export function formatHelp(table: OptionTable, usage: string): string {
  const lines = [`Usage: ${usage}`, '', 'Flags (also settable as STRATA_<FLAG> in the environment):'];
  for (const name of Object.keys(table).sort()) {
    const option = table[name]!;
    const hint =
      option.kind === 'bool' ? '' : `=<${option.choices ? option.choices.join('|') : option.kind}>`;
    lines.push(`  --${name}${hint}`);
    const defaultText = option.defaultValue === undefined ? '' : option.format(option.defaultValue);
    const suffix = option.required ? ' (required)' : defaultText !== '' ? ` (default: ${defaultText})` : '';
    for (const helpLine of (option.help + suffix).split('\n')) lines.push(`      ${helpLine}`);
  }
  return lines.join('\n');
}

export { StrataError };
