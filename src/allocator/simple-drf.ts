/**
 * A flat Dominant Resource Fairness allocator: each cycle, agents are visited in a seeded shuffle,
 * and each agent's available resources go to the eligible (framework, role) with the lowest
 * dominant share. It honours refusal filters, suppression, `--min_allocatable_resources`,
 * reservations (reserved resources only go to their role) and the GPU_RESOURCES capability.
 * Hierarchical roles, weights in the sort and quota belong to the hierarchical allocator.
 */
import { Resources } from '../resources/resources.js';
import type { AgentSpec, Allocation, Allocator, AllocatorOptions, FrameworkSpec } from './allocator.js';

interface FrameworkState {
  spec: FrameworkSpec;
  active: boolean;
  suppressed: Set<string>;
  /** agentId → resources allocated (offered or in use). */
  allocated: Map<string, Resources>;
  /** agentId → time until which recovered resources are refused. */
  refusedUntil: Map<string, number>;
}

interface AgentState {
  spec: AgentSpec;
  active: boolean;
  /** Sum of everything allocated on the agent, to any framework, without allocation info. */
  allocated: Resources;
}

/** mulberry32: a tiny seeded PRNG, enough for a reproducible shuffle. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class SimpleDrfAllocator implements Allocator {
  private readonly frameworks = new Map<string, FrameworkState>();
  private readonly agents = new Map<string, AgentState>();
  private readonly random: () => number;
  private minAllocatable: readonly Resources[];
  private clusterTotals = new Map<string, number>();

  constructor(options: AllocatorOptions) {
    this.random = seededRandom(options.seed);
    this.minAllocatable = options.minAllocatable;
  }

  addFramework(id: string, spec: FrameworkSpec, used: ReadonlyMap<string, Resources>, active: boolean): void {
    const allocated = new Map<string, Resources>();
    for (const [agentId, resources] of used) {
      allocated.set(agentId, resources);
      const agent = this.agents.get(agentId);
      if (agent) agent.allocated = agent.allocated.add(resources.unallocate());
    }
    this.frameworks.set(id, {
      spec,
      active,
      suppressed: new Set(spec.suppressedRoles),
      allocated,
      refusedUntil: new Map(),
    });
  }

  updateFramework(id: string, spec: FrameworkSpec): void {
    const framework = this.frameworks.get(id);
    if (!framework) return;
    framework.spec = spec;
    framework.suppressed = new Set(spec.suppressedRoles);
  }

  deactivateFramework(id: string): void {
    const framework = this.frameworks.get(id);
    if (framework) framework.active = false;
  }

  activateFramework(id: string): void {
    const framework = this.frameworks.get(id);
    if (framework) framework.active = true;
  }

  removeFramework(id: string): void {
    const framework = this.frameworks.get(id);
    if (!framework) return;
    for (const [agentId, resources] of framework.allocated) {
      const agent = this.agents.get(agentId);
      if (agent) agent.allocated = subtractPresent(agent.allocated, resources.unallocate());
    }
    this.frameworks.delete(id);
  }

  addAgent(id: string, spec: AgentSpec, used: ReadonlyMap<string, Resources>): void {
    let allocated = Resources.EMPTY;
    for (const [frameworkId, resources] of used) {
      allocated = allocated.add(resources.unallocate());
      const framework = this.frameworks.get(frameworkId);
      if (framework)
        framework.allocated.set(id, (framework.allocated.get(id) ?? Resources.EMPTY).add(resources));
    }
    this.agents.set(id, { spec, active: true, allocated });
    this.recomputeTotals();
  }

  updateAgent(id: string, total: Resources): void {
    const agent = this.agents.get(id);
    if (!agent) return;
    agent.spec = { ...agent.spec, total };
    this.recomputeTotals();
  }

  deactivateAgent(id: string): void {
    const agent = this.agents.get(id);
    if (agent) agent.active = false;
  }

  activateAgent(id: string): void {
    const agent = this.agents.get(id);
    if (agent) agent.active = true;
  }

  removeAgent(id: string): void {
    this.agents.delete(id);
    for (const framework of this.frameworks.values()) {
      framework.allocated.delete(id);
      framework.refusedUntil.delete(id);
    }
    this.recomputeTotals();
  }

  recoverResources(
    frameworkId: string,
    agentId: string,
    resources: Resources,
    refuseSeconds: number,
    now: number,
  ): void {
    const agent = this.agents.get(agentId);
    const framework = this.frameworks.get(frameworkId);
    if (agent) agent.allocated = subtractPresent(agent.allocated, resources.unallocate());
    if (framework) {
      const current = framework.allocated.get(agentId);
      if (current) {
        const left = subtractPresent(current, resources);
        if (left.isEmpty()) framework.allocated.delete(agentId);
        else framework.allocated.set(agentId, left);
      }
      if (refuseSeconds > 0) framework.refusedUntil.set(agentId, now + refuseSeconds * 1000);
    }
  }

  suppressOffers(frameworkId: string, roles: readonly string[]): void {
    const framework = this.frameworks.get(frameworkId);
    if (!framework) return;
    for (const role of roles.length === 0 ? framework.spec.roles : roles) framework.suppressed.add(role);
  }

  reviveOffers(frameworkId: string, roles: readonly string[]): void {
    const framework = this.frameworks.get(frameworkId);
    if (!framework) return;
    for (const role of roles.length === 0 ? framework.spec.roles : roles) framework.suppressed.delete(role);
    framework.refusedUntil.clear();
  }

  updateWeights(): void {
    // Weights shape the order between roles in the hierarchical sorter; a flat DRF has none.
  }

  allocate(now: number): Allocation[] {
    const allocations: Allocation[] = [];
    const agentIds = [...this.agents.keys()];
    for (let i = agentIds.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [agentIds[i], agentIds[j]] = [agentIds[j]!, agentIds[i]!];
    }
    for (const agentId of agentIds) {
      const agent = this.agents.get(agentId)!;
      if (!agent.active) continue;
      let available = subtractPresent(agent.spec.total, agent.allocated);
      if (available.isEmpty()) continue;
      for (const [frameworkId, role] of this.candidates(agentId, now)) {
        const framework = this.frameworks.get(frameworkId)!;
        let offered = available.allocatableTo(role);
        if (!framework.spec.capabilities.has('GPU_RESOURCES'))
          offered = offered.filter((r) => r.name !== 'gpus');
        if (!framework.spec.capabilities.has('REVOCABLE_RESOURCES')) offered = offered.nonRevocable();
        if (offered.isEmpty() || !this.worthOffering(offered)) continue;
        const tagged = offered.allocate(role);
        allocations.push({ frameworkId, agentId, role, resources: tagged });
        framework.allocated.set(agentId, (framework.allocated.get(agentId) ?? Resources.EMPTY).add(tagged));
        agent.allocated = agent.allocated.add(offered);
        available = available.subtract(offered);
        if (available.isEmpty()) break;
      }
    }
    return allocations;
  }

  /** Eligible (framework, role) pairs for an agent, lowest dominant share first. */
  private candidates(agentId: string, now: number): Array<[string, string]> {
    const ranked: Array<{ frameworkId: string; role: string; share: number }> = [];
    for (const [frameworkId, framework] of this.frameworks) {
      if (!framework.active) continue;
      const refused = framework.refusedUntil.get(agentId);
      if (refused !== undefined && refused > now) continue;
      const share = this.dominantShare(framework);
      for (const role of framework.spec.roles) {
        if (!framework.suppressed.has(role)) ranked.push({ frameworkId, role, share });
      }
    }
    ranked.sort((a, b) => a.share - b.share || (a.frameworkId < b.frameworkId ? -1 : 1));
    return ranked.map((c) => [c.frameworkId, c.role]);
  }

  private dominantShare(framework: FrameworkState): number {
    let share = 0;
    for (const resources of framework.allocated.values()) {
      for (const [name, amount] of resources.scalarTotals()) {
        const total = this.clusterTotals.get(name) ?? 0;
        if (total > 0) share = Math.max(share, amount / total);
      }
    }
    return share;
  }

  private worthOffering(resources: Resources): boolean {
    if (this.minAllocatable.length === 0) return true;
    const quantities = resources.toUnreserved().unallocate();
    return this.minAllocatable.some((minimum) => quantities.contains(minimum));
  }

  private recomputeTotals(): void {
    const totals = new Map<string, number>();
    for (const agent of this.agents.values()) {
      for (const [name, amount] of agent.spec.total.scalarTotals())
        totals.set(name, (totals.get(name) ?? 0) + amount);
    }
    this.clusterTotals = totals;
  }
}

/** `a - b`, ignoring the parts of `b` that `a` does not hold (defensive against double recovery). */
function subtractPresent(a: Resources, b: Resources): Resources {
  return a.contains(b) ? a.subtract(b) : a.subtract(b.filter((item) => a.contains(item)));
}
