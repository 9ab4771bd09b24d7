/**
 * Identifiers in Mesos' formats (reference mesos-v1-api.md section 0). IDs are plain strings on
 * the wire; these helpers mint them and check the ones that users and frameworks send us.
 */
import { randomUUID } from 'node:crypto';
import { fail } from './errors.js';

/** A master ID: a fresh random UUID on every master start. */
export function newMasterId(): string {
  return randomUUID();
}

/** Mints framework, agent and offer IDs for one master, each from its own counter. */
export class IdMinter {
  private frameworks = 0;
  private agents = 0;
  private offers = 0;

  constructor(readonly masterId: string) {}

  /** `<masterId>-0000`: zero padded to 4 digits, wider once the counter outgrows them. */
  frameworkId(): string {
    return `${this.masterId}-${String(this.frameworks++).padStart(4, '0')}`;
  }

  /** `<masterId>-S<n>`, no padding. */
  agentId(): string {
    return `${this.masterId}-S${this.agents++}`;
  }

  /** `<masterId>-O<n>`, no padding. */
  offerId(): string {
    return `${this.masterId}-O${this.offers++}`;
  }
}

/** NAME_MAX on Linux: IDs become path components of sandboxes and checkpoints. */
export const MAX_ID_LENGTH = 255;

/**
 * Why an ID that will become a path component (task, executor, framework, container IDs) is
 * unusable, or undefined when it is fine. Mirrors Mesos' rules: non-empty, at most NAME_MAX bytes,
 * not `.` or `..`, no path separator, no control characters.
 */
export function invalidIdReason(id: string): string | undefined {
  if (id.length === 0) return 'ID must not be empty';
  if (Buffer.byteLength(id, 'utf8') > MAX_ID_LENGTH)
    return `ID must not be longer than ${MAX_ID_LENGTH} bytes`;
  if (id === '.' || id === '..') return `'${id}' is disallowed`;
  if (id.includes('/')) return "ID must not contain '/'";
  if (/[\u0000-\u001f\u007f]/.test(id)) return 'ID must not contain control characters';
  return undefined;
}

/** Throws ID_INVALID naming the kind of ID when `id` is unusable. */
export function assertValidId(kind: string, id: string): void {
  const reason = invalidIdReason(id);
  if (reason !== undefined) fail('ID_INVALID', { kind, value: id, detail: reason });
}

/** The libprocess PID strings that appear in ZooKeeper, `/state` and executor environments. */
export const masterPid = (ip: string, port: number): string => `master@${ip}:${port}`;
export const agentPid = (ip: string, port: number): string => `slave(1)@${ip}:${port}`;
