import type { Allocation, AllocatorOptions, FrameworkSpec } from '../../../src/allocator/allocator.js';
import { HierarchicalDrfAllocator } from '../../../src/allocator/hierarchical-drf.js';
import { parseResources } from '../../../src/resources/flags.js';
import type { ResourceMeta } from '../../../src/resources/resource.js';
import { ResourceItem } from '../../../src/resources/resource.js';
import { Resources } from '../../../src/resources/resources.js';

export const T0 = 1_000_000;

export function makeAllocator(options: Partial<AllocatorOptions> = {}): HierarchicalDrfAllocator {
  return new HierarchicalDrfAllocator({ seed: 7, minAllocatable: [], ...options });
}

export function spec(
  roles: string[],
  capabilities: string[] = [],
  suppressedRoles: string[] = [],
): FrameworkSpec {
  return { roles, capabilities: new Set(capabilities), suppressedRoles };
}

/** Adds `count` agents `<prefix>0..` with the same `--resources` text. */
export function addAgents(
  allocator: HierarchicalDrfAllocator,
  count: number,
  resources: string | Resources,
  prefix = 'agent',
): string[] {
  const total = typeof resources === 'string' ? parseResources(resources) : resources;
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = `${prefix}${i}`;
    allocator.addAgent(id, { hostname: `${id}.example`, total }, new Map());
    ids.push(id);
  }
  return ids;
}

/** Number of offers per framework. */
export function offersPerFramework(allocations: readonly Allocation[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const a of allocations) counts.set(a.frameworkId, (counts.get(a.frameworkId) ?? 0) + 1);
  return counts;
}

/** Sum of a scalar over the allocations of one framework (or all). */
export function total(allocations: readonly Allocation[], name: string, frameworkId?: string): number {
  let sum = 0;
  for (const a of allocations)
    if (frameworkId === undefined || a.frameworkId === frameworkId) sum += a.resources.scalar(name) ?? 0;
  return Math.round(sum * 1000) / 1000;
}

export function reserved(
  name: string,
  amount: number,
  roles: string[],
  extra: ResourceMeta = {},
): ResourceItem {
  return ResourceItem.scalar(name, amount, {
    reservations: roles.map((role, i) => ({ type: i === 0 ? 'STATIC' : 'DYNAMIC', role })),
    ...extra,
  });
}

export function dynamicallyReserved(name: string, amount: number, roles: string[]): ResourceItem {
  return ResourceItem.scalar(name, amount, {
    reservations: roles.map((role) => ({ type: 'DYNAMIC', role, principal: 'ops' })),
  });
}

export function resources(...items: ResourceItem[]): Resources {
  return Resources.from(items);
}

/** Declines every allocation with `refuseSeconds`. */
export function declineAll(
  allocator: HierarchicalDrfAllocator,
  allocations: readonly Allocation[],
  refuseSeconds: number,
  now: number,
): void {
  for (const a of allocations)
    allocator.recoverResources(a.frameworkId, a.agentId, a.resources, refuseSeconds, now);
}
