/**
 * linux/capabilities and posix/rlimits.
 *
 * - linux/capabilities: the task's LinuxInfo.effective_capabilities (or the older
 *   capability_info) is the process' set, bounded by bounding_capabilities when given; nothing
 *   asked: Docker's default set. Without this isolator a root container keeps root's full set.
 * - posix/rlimits: ContainerInfo.rlimit_info; an unset soft/hard is "unlimited"; every value is
 *   capped at the agent's own hard limit (this host's root has no CAP_SYS_RESOURCE: asking more
 *   fails the container's start, host-setup.md 2). A soft limit above its hard is refused.
 */
import { readFileSync } from 'node:fs';
import { isFieldSet } from '@bufbuild/protobuf';
import {
  type CapabilityInfo,
  CapabilityInfo_Capability,
  RLimitInfo_RLimit_Type,
  RLimitInfo_RLimitSchema,
} from '../../wire/gen/mesos/v1/mesos_pb.js';
import { DEFAULT_CAPABILITIES, type LaunchInfo, type OciRlimit } from '../runtime/oci-spec.js';
import type { ContainerConfig, Isolator } from './isolator.js';

export class IsolationError extends Error {}

function capNames(info: CapabilityInfo | undefined): string[] | undefined {
  if (!info) return undefined;
  return info.capabilities.map((c) => `CAP_${CapabilityInfo_Capability[c] ?? String(c)}`);
}

/** Pure: the capability set for a container. */
export function capabilitySet(config: ContainerConfig): string[] {
  const linux = config.containerInfo?.linuxInfo;
  const wanted = capNames(linux?.effectiveCapabilities) ??
    capNames(linux?.capabilityInfo) ?? [...DEFAULT_CAPABILITIES];
  const bounding = capNames(linux?.boundingCapabilities);
  if (bounding) {
    const outside = wanted.filter((c) => !bounding.includes(c));
    if (outside.length > 0)
      throw new IsolationError(`effective capabilities ${outside.join(', ')} are outside the bounding set`);
  }
  return wanted;
}

export class CapabilitiesIsolator implements Isolator {
  readonly name = 'linux/capabilities';
  async prepare(config: ContainerConfig): Promise<LaunchInfo> {
    return { capabilities: capabilitySet(config) };
  }
  async cleanup(): Promise<void> {}
}

const RLIMIT_NAMES: Record<string, string> = {
  AS: 'RLIMIT_AS',
  CORE: 'RLIMIT_CORE',
  CPU: 'RLIMIT_CPU',
  DATA: 'RLIMIT_DATA',
  FSIZE: 'RLIMIT_FSIZE',
  LOCKS: 'RLIMIT_LOCKS',
  MEMLOCK: 'RLIMIT_MEMLOCK',
  MSGQUEUE: 'RLIMIT_MSGQUEUE',
  NICE: 'RLIMIT_NICE',
  NOFILE: 'RLIMIT_NOFILE',
  NPROC: 'RLIMIT_NPROC',
  RSS: 'RLIMIT_RSS',
  RTPRIO: 'RLIMIT_RTPRIO',
  RTTIME: 'RLIMIT_RTTIME',
  SIGPENDING: 'RLIMIT_SIGPENDING',
  STACK: 'RLIMIT_STACK',
};

/** /proc/self/limits → RLIMIT name → hard limit (Infinity for unlimited). */
export function parseHardLimits(text: string): Map<string, number> {
  const names: Record<string, string> = {
    'Max cpu time': 'RLIMIT_CPU',
    'Max file size': 'RLIMIT_FSIZE',
    'Max data size': 'RLIMIT_DATA',
    'Max stack size': 'RLIMIT_STACK',
    'Max core file size': 'RLIMIT_CORE',
    'Max resident set': 'RLIMIT_RSS',
    'Max processes': 'RLIMIT_NPROC',
    'Max open files': 'RLIMIT_NOFILE',
    'Max locked memory': 'RLIMIT_MEMLOCK',
    'Max address space': 'RLIMIT_AS',
    'Max file locks': 'RLIMIT_LOCKS',
    'Max pending signals': 'RLIMIT_SIGPENDING',
    'Max msgqueue size': 'RLIMIT_MSGQUEUE',
    'Max nice priority': 'RLIMIT_NICE',
    'Max realtime priority': 'RLIMIT_RTPRIO',
    'Max realtime timeout': 'RLIMIT_RTTIME',
  };
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    for (const [label, name] of Object.entries(names)) {
      if (!line.startsWith(label)) continue;
      const fields = line.slice(label.length).trim().split(/\s+/);
      const hard = fields[1];
      out.set(name, hard === 'unlimited' || hard === undefined ? Number.POSITIVE_INFINITY : Number(hard));
    }
  }
  return out;
}

const UNLIMITED = 2 ** 64 - 1;

/** Pure: the rlimits of a container, capped at `hard` (the agent's hard limits). */
export function rlimitsFor(config: ContainerConfig, hard: Map<string, number>): OciRlimit[] {
  const out: OciRlimit[] = [];
  for (const r of config.containerInfo?.rlimitInfo?.rlimits ?? []) {
    const short = (RLimitInfo_RLimit_Type[r.type] ?? '').replace(/^RLMT_/, '');
    const name = RLIMIT_NAMES[short];
    if (!name) throw new IsolationError(`unknown rlimit type ${r.type}`);
    const cap = hard.get(name) ?? Number.POSITIVE_INFINITY;
    const softWanted = isFieldSet(r, RLimitInfo_RLimitSchema.field.soft)
      ? Number(r.soft)
      : Number.POSITIVE_INFINITY;
    const hardWanted = isFieldSet(r, RLimitInfo_RLimitSchema.field.hard)
      ? Number(r.hard)
      : Number.POSITIVE_INFINITY;
    if (softWanted > hardWanted)
      throw new IsolationError(`${name}: soft limit ${softWanted} is above the hard limit ${hardWanted}`);
    const clamp = (v: number) => {
      const capped = Math.min(v, cap);
      return capped === Number.POSITIVE_INFINITY ? UNLIMITED : capped;
    };
    out.push({ type: name, soft: clamp(softWanted), hard: clamp(hardWanted) });
  }
  return out;
}

export class RlimitsIsolator implements Isolator {
  readonly name = 'posix/rlimits';
  private readonly hard = parseHardLimits(readFileSync('/proc/self/limits', 'utf8'));
  async prepare(config: ContainerConfig): Promise<LaunchInfo | undefined> {
    const rlimits = rlimitsFor(config, this.hard);
    return rlimits.length > 0 ? { rlimits } : undefined;
  }
  async cleanup(): Promise<void> {}
}
