/**
 * What each agent and framework has in use (tasks whose resources have not gone back to the
 * allocator, plus executors) and on offer, kept up to date by the Master as it launches, releases,
 * offers and rescinds. The legacy endpoints and metrics read these sums instead of adding up every
 * task on every request, which with 500,000 tasks would block the event loop for seconds.
 */
import { Resources } from '../resources/resources.js';

/** Called between steps of a long computation; a returned promise means: wait, let others run. */
export type Breathe = () => Promise<void> | undefined;

/**
 * Resources one holder (a framework, or everyone) has on each agent, and their sum.
 *
 * Per agent, adding and subtracting is exact: what is in use or on offer on one agent never
 * overlaps. Across agents it is not: the same ports on two agents merge into one range in the sum,
 * so taking one agent's ports away from the sum would also drop the other's. Scalars are safe to
 * subtract from the sum; anything else invalidates it, and it is recomputed when next read.
 */
class SpreadSum {
  private readonly byAgent = new Map<string, Resources>();
  private total: Resources | undefined = Resources.EMPTY;
  /** Bumped on every change, so a paced recomputation knows whether it may cache its result. */
  private version = 0;

  add(agentId: string, resources: Resources): void {
    this.version++;
    this.byAgent.set(agentId, (this.byAgent.get(agentId) ?? Resources.EMPTY).add(resources));
    if (this.total !== undefined) this.total = this.total.add(resources);
  }

  subtract(agentId: string, resources: Resources): void {
    const current = this.byAgent.get(agentId);
    if (current === undefined) return;
    this.version++;
    const left = current.subtract(resources);
    if (left.isEmpty()) this.byAgent.delete(agentId);
    else this.byAgent.set(agentId, left);
    if (this.total === undefined) return;
    this.total = resources.nonScalars().isEmpty() ? this.total.subtract(resources) : undefined;
  }

  onAgent(agentId: string): Resources {
    return this.byAgent.get(agentId) ?? Resources.EMPTY;
  }

  get sum(): Resources {
    this.total ??= Resources.sum(this.byAgent.values());
    return this.total;
  }

  /** As `sum`, but a recomputation over many agents lets `breathe` hand the event loop back. */
  async pacedSum(breathe: Breathe): Promise<Resources> {
    if (this.total !== undefined) return this.total;
    const version = this.version;
    let sum = Resources.EMPTY;
    for (const resources of [...this.byAgent.values()]) {
      sum = sum.add(resources);
      const pause = breathe();
      if (pause) await pause;
    }
    if (this.version === version) this.total = sum;
    return sum;
  }

  get isEmpty(): boolean {
    return this.byAgent.size === 0;
  }
}

function holder(holders: Map<string, SpreadSum>, key: string): SpreadSum {
  let sum = holders.get(key);
  if (sum === undefined) {
    sum = new SpreadSum();
    holders.set(key, sum);
  }
  return sum;
}

function subtractFrom(
  holders: Map<string, SpreadSum>,
  key: string,
  agentId: string,
  resources: Resources,
): void {
  const sum = holders.get(key);
  if (sum === undefined) return;
  sum.subtract(agentId, resources);
  if (sum.isEmpty) holders.delete(key);
}

export class ResourceLedger {
  private readonly used = new SpreadSum();
  private readonly offered = new SpreadSum();
  private readonly usedByFramework = new Map<string, SpreadSum>();
  private readonly offeredByFramework = new Map<string, SpreadSum>();

  /** A task launched (or reported by a re-registering agent) or an executor added. */
  use(frameworkId: string, agentId: string, resources: Resources): void {
    if (resources.isEmpty()) return;
    this.used.add(agentId, resources);
    holder(this.usedByFramework, frameworkId).add(agentId, resources);
  }

  /** A task's resources went back (terminal, lost, unreachable) or an executor went away. */
  release(frameworkId: string, agentId: string, resources: Resources): void {
    if (resources.isEmpty()) return;
    this.used.subtract(agentId, resources);
    subtractFrom(this.usedByFramework, frameworkId, agentId, resources);
  }

  offer(frameworkId: string, agentId: string, resources: Resources): void {
    if (resources.isEmpty()) return;
    this.offered.add(agentId, resources);
    holder(this.offeredByFramework, frameworkId).add(agentId, resources);
  }

  /** An offer was accepted, declined, rescinded or timed out. */
  unoffer(frameworkId: string, agentId: string, resources: Resources): void {
    if (resources.isEmpty()) return;
    this.offered.subtract(agentId, resources);
    subtractFrom(this.offeredByFramework, frameworkId, agentId, resources);
  }

  agentUsed(agentId: string): Resources {
    return this.used.onAgent(agentId);
  }

  agentOffered(agentId: string): Resources {
    return this.offered.onAgent(agentId);
  }

  frameworkUsed(frameworkId: string): Resources {
    return this.usedByFramework.get(frameworkId)?.sum ?? Resources.EMPTY;
  }

  frameworkOffered(frameworkId: string): Resources {
    return this.offeredByFramework.get(frameworkId)?.sum ?? Resources.EMPTY;
  }

  /** `frameworkUsed` for the endpoints: a recomputation over the framework's agents is paced. */
  frameworkUsedPaced(frameworkId: string, breathe: Breathe): Promise<Resources> {
    return this.usedByFramework.get(frameworkId)?.pacedSum(breathe) ?? Promise.resolve(Resources.EMPTY);
  }

  frameworkOfferedPaced(frameworkId: string, breathe: Breathe): Promise<Resources> {
    return this.offeredByFramework.get(frameworkId)?.pacedSum(breathe) ?? Promise.resolve(Resources.EMPTY);
  }

  /** Everything in use; recomputed over all agents after ports or other non-scalars were released. */
  get clusterUsed(): Resources {
    return this.used.sum;
  }

  get clusterOffered(): Resources {
    return this.offered.sum;
  }
}
