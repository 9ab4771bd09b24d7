/**
 * The agent's `--resources` flag: `cpus:2;mem:1024;ports:[31000-32000,33000-34000];disk(role):10;
 * disks:{sda,sdb}`, or a JSON array of Mesos-JSON `Resource` objects (Mesos' `Resources::parse`).
 *
 * Simple syntax: `;`-separated `name[(role)]:value` tokens; empty tokens are skipped and whitespace
 * around names, roles and inside values is ignored. A role in parentheses is a static reservation
 * (`(*)` means unreserved). Tokens with the same name and role add up (`cpus:1;cpus:2` is `cpus:3`,
 * ranges and sets take the union) and zero amounts vanish, as with Mesos. Errors are RESOURCES_PARSE
 * naming the bad token.
 */
import type { ErrorParams } from '../common/errors.js';
import { fail } from '../common/errors.js';
import { stringifyJson } from '../wire/json-text.js';
import { resourceInputsFromJson, resourcesToJson } from './messages.js';
import { Ranges } from './ranges.js';
import type { ResourceInput } from './resource.js';
import { Resources } from './resources.js';
import { parseTextValue } from './text-values.js';
import { formatResourceInput, validateGpus, validateResource } from './validate.js';
import { ValueSet } from './value-set.js';

function parseError(input: string, detail: string, token?: string): never {
  const params: ErrorParams = { input, detail };
  if (token !== undefined) params.token = token;
  return fail('RESOURCES_PARSE', params);
}

/** One `name[(role)]:value` token as a wire-shaped resource (unvalidated). */
function parseToken(flag: string, token: string, defaultRole: string): ResourceInput {
  const parts = token.split(':');
  if (parts.length !== 2 || parts[0]!.trim() === '' || parts[1]!.trim() === '') {
    parseError(flag, `Bad value for resources, missing or extra ':' in '${token.trim()}'`, token.trim());
  }
  const head = parts[0]!;
  const valueText = parts[1]!;
  let name: string;
  let role: string;
  const openParen = head.indexOf('(');
  if (openParen < 0) {
    if (head.includes(')'))
      parseError(flag, `Bad value for resources, mismatched parentheses in '${token.trim()}'`, token.trim());
    name = head.trim();
    role = defaultRole;
  } else {
    const closeParen = head.indexOf(')');
    if (
      closeParen < openParen ||
      head.indexOf('(', openParen + 1) >= 0 ||
      head.indexOf(')', closeParen + 1) >= 0 ||
      head.slice(closeParen + 1).trim() !== ''
    ) {
      parseError(flag, `Bad value for resources, mismatched parentheses in '${token.trim()}'`, token.trim());
    }
    name = head.slice(0, openParen).trim();
    role = head.slice(openParen + 1, closeParen).trim();
  }

  const value = parseTextValue(valueText);
  if ('error' in value) {
    parseError(
      flag,
      `Failed to parse resource ${name} value ${valueText.trim()} error ${value.error}`,
      token.trim(),
    );
  }
  const reservations = role === '*' ? undefined : [{ type: 'STATIC' as const, role }];
  const base = { name, ...(reservations === undefined ? {} : { reservations }) };
  switch (value.type) {
    case 'SCALAR':
      return { ...base, type: 'SCALAR', scalar: value.scalar };
    case 'RANGES':
      return { ...base, type: 'RANGES', ranges: value.ranges };
    case 'SET':
      return { ...base, type: 'SET', set: value.set };
    default:
      return parseError(
        flag,
        `Bad type for resource ${name} value ${valueText.trim()} type TEXT`,
        token.trim(),
      );
  }
}

/** The unvalidated resources a flag value lists, one per token or JSON element, in order. */
export function parseResourceInputs(text: string, defaultRole = '*'): ResourceInput[] {
  if (text.trimStart().startsWith('[')) return resourceInputsFromJson(text, defaultRole);
  const inputs: ResourceInput[] = [];
  for (const token of text.split(';')) {
    if (token.trim() === '') continue;
    const input = parseToken(text, token, defaultRole);
    // Ranges may overlap across the written list (`[1-5,3-7]`): Mesos coalesces them while parsing.
    inputs.push(input.ranges === undefined ? input : { ...input, ranges: Ranges.of(input.ranges).toArray() });
  }
  return inputs;
}

/**
 * Parses an agent `--resources` value (simple syntax or JSON array) into validated, normalized
 * resources. Beyond Mesos' per-resource validation it rejects one name used with two value types and
 * fractional `gpus`, which the agent refuses at start-up.
 */
export function parseResources(text: string, options: { defaultRole?: string } = {}): Resources {
  const inputs = parseResourceInputs(text, options.defaultRole ?? '*');
  const types = new Map<string, string>();
  for (const input of inputs) {
    const error = validateResource(input);
    if (error !== undefined) {
      const described = formatResourceInput(input);
      parseError(text, `Resource '${described}' is invalid: ${error}`, described);
    }
    const seen = types.get(input.name);
    if (seen !== undefined && seen !== input.type) {
      parseError(text, `Resource '${input.name}' is given both as ${seen} and as ${input.type}`, input.name);
    }
    types.set(input.name, input.type);
  }
  const gpus = validateGpus(inputs);
  if (gpus !== undefined) parseError(text, gpus, 'gpus');
  return Resources.fromInputs(inputs);
}

/** Names, roles and set items the simple syntax can carry without quoting. */
const SIMPLE_TOKEN = /^[^\s:;()[\]{},]+$/;

function simpleTokenFor(input: ResourceInput): string | undefined {
  if (!SIMPLE_TOKEN.test(input.name)) return undefined;
  if (
    input.allocationInfo !== undefined ||
    input.disk !== undefined ||
    input.revocable ||
    input.shared ||
    input.providerId !== undefined
  ) {
    return undefined;
  }
  let head = input.name;
  const reservations = input.reservations ?? [];
  if (reservations.length > 1) return undefined;
  const only = reservations[0];
  if (only !== undefined) {
    if (only.type !== 'STATIC' || only.role === undefined || !SIMPLE_TOKEN.test(only.role)) return undefined;
    if (only.principal !== undefined || only.labels !== undefined) return undefined;
    head += `(${only.role})`;
  }
  switch (input.type) {
    case 'SCALAR':
      return `${head}:${input.scalar}`;
    case 'RANGES':
      return `${head}:${Ranges.of(input.ranges ?? []).format(',')}`;
    case 'SET': {
      const items = input.set ?? [];
      if (!items.every((item) => SIMPLE_TOKEN.test(item))) return undefined;
      return `${head}:${ValueSet.of(items).format(',')}`;
    }
    default:
      return undefined;
  }
}

/**
 * Writes resources as an agent `--resources` value that `parseResources` reads back to an equal
 * collection: the simple syntax when every resource is expressible in it (unreserved or statically
 * reserved to one role, no disk info, allocation, revocable, shared or provider), otherwise the JSON
 * array form in the endpoint format (explicit `role`, so a `defaultRole` cannot change the meaning).
 */
export function formatResources(resources: Resources): string {
  const tokens: string[] = [];
  for (const input of resources.toInputs('post-refinement')) {
    const token = simpleTokenFor(input);
    if (token === undefined) return stringifyJson(resourcesToJson(resources, 'endpoint'));
    tokens.push(token);
  }
  return tokens.join(';');
}
