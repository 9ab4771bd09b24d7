/**
 * The hierarchical DRF allocator (reference §6): roles in a tree ordered by weighted dominant share,
 * frameworks within a role by dominant share, quota guarantees served first and limits enforced,
 * headroom held back for unmet guarantees, reservations offered only within their role's subtree,
 * capability rules, refusal filters and suppression. Pure: no I/O, no clock but the `now` the
 * master passes, and one seeded PRNG for the agent shuffle, so the same calls replay the same
 * offers. See README.md in this directory for the cycle step by step.
 */
import { Resources } from '../resources/resources.js';
import type {
  AgentSpec,
  Allocation,
  AllocatorOptions,
  FrameworkSpec,
  HierarchicalAllocatorApi,
  OfferExplanation,
  OfferExplanationReason,
  QuotaConfig,
  RoleStatus,
} from './allocator.js';
import { blockingFilter, type RefusalFilter, refusalDurationMs } from './filters.js';
import {
  accumulate,
  addQuantities,
  clear,
  containsQuantities,
  isZero,
  Part,
  type Quantities,
  ScalarNames,
} from './quantities.js';
import { advancesGuarantee, chopToCaps, QuotaTracker, quotaState } from './quota.js';
import { seededRandom, shuffleInPlace } from './random.js';
import { FrameworkClient, type RoleNode, RoleSelf, RoleTree } from './role-tree.js';
import type { AgentState, FrameworkState, MinimumAlternative } from './state.js';

/** What `evaluate` decides: an offer, or why not. Stage 1 adds "would not advance a guarantee". */
type Verdict = OfferExplanationReason | 'NO_GUARANTEE_PROGRESS';

/** Stage 1 serves unmet quota guarantees; stage 2 shares out the rest by DRF. */
enum Stage {
  Guarantees = 1,
  FairShare = 2,
}

/** A candidate offer computed for one agent, role and capability set, reused while still valid. */
interface CandidateMemo {
  available: Resources;
  sharedOffered: Resources;
  offer: Resources;
  /** Something was left out because the framework lacks a capability. */
  stripped: boolean;
}

const GPU_RESOURCES = 'GPU_RESOURCES';
const REVOCABLE_RESOURCES = 'REVOCABLE_RESOURCES';
const SHARED_RESOURCES = 'SHARED_RESOURCES';
const RESERVATION_REFINEMENT = 'RESERVATION_REFINEMENT';

export class HierarchicalDrfAllocator implements HierarchicalAllocatorApi {
  private readonly names = new ScalarNames();
  private readonly tree: RoleTree;
  private readonly quota: QuotaTracker;
  private readonly frameworks = new Map<string, FrameworkState>();
  private readonly agents = new Map<string, AgentState>();
  private readonly agentsByNumber = new Map<number, AgentState>();
  /** Agents in a stable order (add order, with swap-removal): the shuffle's input. */
  private readonly agentList: AgentState[] = [];
  /** Scratch for the shuffled candidates of one cycle. */
  private readonly order: AgentState[] = [];
  private nextAgentNumber = 0;
  private readonly random: () => number;
  private readonly minimum: readonly MinimumAlternative[];
  private readonly allocationIntervalMs: number;
  private readonly filterGpuResources: boolean;
  private cycle = 0;
  private lastNow = 0;
  private output: Allocation[] = [];

  // Scratch state of the hot path, reused so a cycle allocates little besides the offers.
  private offer: Resources = Resources.EMPTY;
  private blocking: RefusalFilter | undefined;
  private readonly delta: Quantities = [];
  private readonly offerQuantities: Quantities = [];
  private readonly caps: Quantities = [];
  private readonly limitCaps: Quantities = [];
  private readonly chopScratch: Quantities = [];
  private memoAgent: AgentState | undefined;
  private readonly memo = new Map<string, CandidateMemo>();
  /** Returned for agents with nothing reserved, shared or revocable: the offer is all available. */
  private readonly fastMemo: CandidateMemo = {
    available: Resources.EMPTY,
    sharedOffered: Resources.EMPTY,
    offer: Resources.EMPTY,
    stripped: false,
  };
  private worthMemoOffer: Resources | undefined;
  private worthMemoMinimum: readonly MinimumAlternative[] | undefined;
  private worthMemo = false;

  constructor(options: AllocatorOptions) {
    this.random = seededRandom(options.seed);
    this.allocationIntervalMs = options.allocationIntervalMs ?? 1000;
    this.filterGpuResources = options.filterGpuResources ?? true;
    this.tree = new RoleTree(options.weights ?? new Map());
    this.quota = new QuotaTracker(this.names);
    for (const name of options.fairnessExcludedResourceNames ?? [])
      this.tree.excluded[this.names.numberOf(name)] = true;
    this.minimum = this.minimumAlternatives(options.minAllocatable);
  }

  // --- frameworks -----------------------------------------------------------------------------------

  addFramework(id: string, spec: FrameworkSpec, used: ReadonlyMap<string, Resources>, active: boolean): void {
    const framework = this.ensureFramework(id);
    this.applySpec(framework, spec);
    framework.active = active;
    for (const [agentId, resources] of used) {
      const agent = this.agents.get(agentId);
      // An agent that re-registered first already reported this framework's resources.
      if (agent !== undefined && !framework.allocations.has(agent.number))
        this.track(framework, agent, resources);
    }
    this.refreshClients(framework);
    this.tree.reposition();
  }

  updateFramework(id: string, spec: FrameworkSpec): void {
    const framework = this.frameworks.get(id);
    if (framework === undefined) return;
    this.applySpec(framework, spec);
    this.refreshClients(framework);
  }

  deactivateFramework(id: string): void {
    const framework = this.frameworks.get(id);
    if (framework === undefined) return;
    framework.active = false;
    this.refreshClients(framework);
  }

  activateFramework(id: string): void {
    const framework = this.frameworks.get(id);
    if (framework === undefined) return;
    framework.active = true;
    this.refreshClients(framework);
  }

  removeFramework(id: string): void {
    const framework = this.frameworks.get(id);
    if (framework === undefined) return;
    for (const [agentNumber, held] of framework.allocations) {
      const agent = this.agentsByNumber.get(agentNumber);
      if (agent !== undefined) this.giveBack(agent, held);
      this.untrack(framework, held);
    }
    framework.allocations.clear();
    for (const client of framework.clients.values()) this.dropClient(client);
    this.frameworks.delete(id);
    this.tree.reposition();
  }

  suppressOffers(frameworkId: string, roles: readonly string[]): void {
    const framework = this.frameworks.get(frameworkId);
    if (framework === undefined) return;
    for (const role of roles.length === 0 ? (framework.spec?.roles ?? []) : roles)
      framework.suppressed.add(role);
    this.refreshClients(framework);
  }

  reviveOffers(frameworkId: string, roles: readonly string[]): void {
    const framework = this.frameworks.get(frameworkId);
    if (framework === undefined) return;
    const revived = roles.length === 0 ? (framework.spec?.roles ?? []) : roles;
    for (const role of revived) {
      framework.suppressed.delete(role);
      framework.clients.get(role)?.filters.clear();
    }
    // Mesos clears every filter of the framework on a whole-framework revive.
    if (roles.length === 0) for (const client of framework.clients.values()) client.filters.clear();
    this.refreshClients(framework);
  }

  // --- agents ---------------------------------------------------------------------------------------

  addAgent(id: string, spec: AgentSpec, used: ReadonlyMap<string, Resources>): void {
    if (this.agents.has(id)) this.removeAgent(id);
    const agent: AgentState = {
      id,
      number: this.nextAgentNumber++,
      slot: this.agentList.length,
      hostname: spec.hostname,
      total: Resources.EMPTY,
      available: Resources.EMPTY,
      sharedTotal: Resources.EMPTY,
      sharedOffered: Resources.EMPTY,
      sharedOfferedCycle: -1,
      active: true,
      hasGpus: false,
      hasReservations: false,
      hasRevocable: false,
      hasRefined: false,
      hasShared: false,
      offeredTo: [],
      offeredCount: 0,
      offeredCycle: -1,
    };
    this.agents.set(id, agent);
    this.agentsByNumber.set(agent.number, agent);
    this.agentList.push(agent);
    this.setTotal(agent, spec.total);
    this.tree.markStale();
    agent.available = this.nonShared(agent, spec.total);
    accumulate(this.quota.availableHeadroom, this.names, agent.available, 1, Part.UnreservedFirm);
    for (const [frameworkId, resources] of used)
      this.track(this.ensureFramework(frameworkId), agent, resources);
    this.tree.reposition();
  }

  updateAgent(id: string, total: Resources): void {
    const agent = this.agents.get(id);
    if (agent === undefined) return;
    accumulate(this.quota.availableHeadroom, this.names, agent.available, -1, Part.UnreservedFirm);
    this.replaceTotal(agent, total);
    let allocated = Resources.EMPTY;
    for (const framework of this.frameworks.values()) {
      const held = framework.allocations.get(agent.number);
      if (held !== undefined) allocated = allocated.add(held.unallocate());
    }
    agent.available = this.nonShared(agent, total).subtract(this.nonShared(agent, allocated));
    accumulate(this.quota.availableHeadroom, this.names, agent.available, 1, Part.UnreservedFirm);
    this.memoAgent = undefined;
    this.tree.reposition();
  }

  deactivateAgent(id: string): void {
    const agent = this.agents.get(id);
    if (agent !== undefined) agent.active = false;
  }

  activateAgent(id: string): void {
    const agent = this.agents.get(id);
    if (agent !== undefined) agent.active = true;
  }

  removeAgent(id: string): void {
    const agent = this.agents.get(id);
    if (agent === undefined) return;
    for (const framework of this.frameworks.values()) {
      const held = framework.allocations.get(agent.number);
      if (held !== undefined) {
        framework.allocations.delete(agent.number);
        this.untrack(framework, held);
      }
      for (const client of framework.clients.values()) client.filters.delete(agent.number);
    }
    accumulate(this.quota.availableHeadroom, this.names, agent.available, -1, Part.UnreservedFirm);
    this.unsetTotal(agent);
    this.tree.markStale();
    const last = this.agentList.pop()!;
    if (last !== agent) {
      this.agentList[agent.slot] = last;
      last.slot = agent.slot;
    }
    this.agents.delete(id);
    this.agentsByNumber.delete(agent.number);
    if (this.memoAgent === agent) this.memoAgent = undefined;
    for (const framework of [...this.frameworks.values()]) this.dropIdleClients(framework);
    this.tree.reposition();
  }

  // --- resources coming back, operations ------------------------------------------------------------

  recoverResources(
    frameworkId: string,
    agentId: string,
    resources: Resources,
    refuseSeconds: number,
    now: number,
  ): void {
    if (resources.isEmpty()) return;
    const framework = this.frameworks.get(frameworkId);
    const agent = this.agents.get(agentId);
    if (framework === undefined || agent === undefined) return;
    const held = framework.allocations.get(agent.number);
    if (held === resources) {
      // The usual case: a whole offer declined or rescinded, handed back as it went out.
      framework.allocations.delete(agent.number);
      this.giveBack(agent, held);
      this.untrack(framework, held);
    } else if (held !== undefined) {
      // Defensive against double recovery: only what the framework still holds comes back.
      const recovered = held.contains(resources)
        ? resources
        : resources.filter((item) => held.contains(item));
      if (!recovered.isEmpty()) {
        const left = held.subtract(recovered);
        if (left.isEmpty()) framework.allocations.delete(agent.number);
        else framework.allocations.set(agent.number, left);
        this.giveBack(agent, recovered);
        this.untrack(framework, recovered);
      }
    }
    if (refuseSeconds > 0) {
      const expiresAt = now + refusalDurationMs(refuseSeconds, this.allocationIntervalMs);
      const role = singleRole(resources);
      if (role !== null) {
        const client = framework.clients.get(role ?? this.defaultRole(framework));
        client?.filters.set(agent.number, { refused: resources.unallocate(), expiresAt });
      } else {
        for (const [role, part] of this.byRole(framework, resources)) {
          const client = framework.clients.get(role);
          client?.filters.set(agent.number, { refused: part.unallocate(), expiresAt });
        }
      }
    }
    if (framework.clients.size > (framework.spec?.roles.length ?? 0)) this.dropIdleClients(framework);
    this.tree.reposition();
  }

  updateAllocation(frameworkId: string, agentId: string, consumed: Resources, converted: Resources): boolean {
    const framework = this.frameworks.get(frameworkId);
    const agent = this.agents.get(agentId);
    if (framework === undefined || agent === undefined) return false;
    const held = framework.allocations.get(agent.number);
    if (held === undefined || !held.contains(consumed)) return false;
    const role = consumed.items()[0]?.allocationRole ?? this.defaultRole(framework);
    const tagged = converted.allocate(role);
    this.untrack(framework, consumed);
    const left = held.subtract(consumed).add(tagged);
    if (left.isEmpty()) framework.allocations.delete(agent.number);
    else framework.allocations.set(agent.number, left);
    this.track(framework, agent, tagged, false);
    const total = agent.total.subtract(consumed.unallocate()).add(converted.unallocate());
    const available = agent.available;
    this.replaceTotal(agent, total);
    agent.available = available;
    this.memoAgent = undefined;
    this.tree.reposition();
    return true;
  }

  updateAvailable(agentId: string, consumed: Resources, converted: Resources): boolean {
    const agent = this.agents.get(agentId);
    if (agent === undefined) return false;
    const consumedPlain = consumed.unallocate();
    const convertedPlain = converted.unallocate();
    const fromAvailable = this.nonShared(agent, consumedPlain);
    if (!agent.available.contains(fromAvailable)) return false;
    if (!agent.total.contains(consumedPlain)) return false;
    accumulate(this.quota.availableHeadroom, this.names, agent.available, -1, Part.UnreservedFirm);
    const total = agent.total.subtract(consumedPlain).add(convertedPlain);
    const available = agent.available.subtract(fromAvailable);
    this.replaceTotal(agent, total);
    agent.available = available.add(this.nonShared(agent, convertedPlain));
    accumulate(this.quota.availableHeadroom, this.names, agent.available, 1, Part.UnreservedFirm);
    this.memoAgent = undefined;
    this.tree.reposition();
    return true;
  }

  // --- weights and quota ----------------------------------------------------------------------------

  updateWeights(weights: ReadonlyMap<string, number>): void {
    this.tree.setWeights(weights);
  }

  updateQuota(role: string, config: QuotaConfig): void {
    const node = this.tree.ensure(role);
    if (config.guarantees.size === 0 && config.limits.size === 0) {
      node.quota = undefined;
      this.quota.roles.delete(node);
      this.tree.prune(node);
    } else {
      node.quota = quotaState(config, this.names);
      this.quota.roles.add(node);
    }
    this.quota.refresh();
  }

  // --- the cycle ------------------------------------------------------------------------------------

  allocate(now: number, agentIds?: readonly string[]): Allocation[] {
    this.cycle++;
    this.lastNow = now;
    const output: Allocation[] = [];
    this.output = output;
    this.tree.prepare();
    if (this.quota.roles.size > 0) this.quota.refresh();

    const order = this.order;
    let count = 0;
    const consider = (agent: AgentState | undefined) => {
      if (agent === undefined || !agent.active) return;
      if (agent.available.isEmpty() && agent.sharedTotal.isEmpty()) return;
      order[count++] = agent;
    };
    if (agentIds === undefined) for (const agent of this.agentList) consider(agent);
    else for (const id of agentIds) consider(this.agents.get(id));
    order.length = count;
    shuffleInPlace(order, count, this.random);

    if (this.quota.headroomRequired) this.serveGuarantees(order, now);
    for (let i = 0; i < count; i++) {
      const agent = order[i]!;
      if (this.exhausted(agent)) continue;
      this.visitRole(this.tree.root, agent, now, Stage.FairShare);
      this.tree.reposition();
    }
    this.memoAgent = undefined;
    this.worthMemoOffer = undefined;
    this.worthMemoMinimum = undefined;
    return output;
  }

  /** Stage 1: roles with unmet guarantees, in sort order, pick first on every agent. */
  private serveGuarantees(order: readonly AgentState[], now: number): void {
    const guaranteed = [...this.quota.roles].filter(
      (node) => node.sorted.size > 0 && this.quota.hasUnmetGuarantee(node),
    );
    if (guaranteed.length === 0) return;
    guaranteed.sort((a, b) => a.sortShare - b.sortShare || (a.name < b.name ? -1 : 1));
    for (const agent of order) {
      for (const node of guaranteed) {
        if (this.exhausted(agent)) break;
        if (!this.quota.hasUnmetGuarantee(node)) continue;
        this.visitRole(node, agent, now, Stage.Guarantees);
      }
      this.tree.reposition();
    }
  }

  /** Depth-first over `node`'s active subtree in DRF order; true once the agent has nothing left. */
  private visitRole(node: RoleNode, agent: AgentState, now: number, stage: Stage): boolean {
    const entries = node.sorted.items;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      const done =
        entry instanceof RoleSelf
          ? this.visitFrameworks(entry.owner, agent, now, stage)
          : this.visitRole(entry as RoleNode, agent, now, stage);
      if (done) return true;
    }
    return false;
  }

  private visitFrameworks(role: RoleNode, agent: AgentState, now: number, stage: Stage): boolean {
    const clients = role.frameworks.items;
    for (let i = 0; i < clients.length; i++) {
      const client = clients[i]!;
      const verdict = this.evaluate(client, agent, now, stage);
      if (verdict === 'OFFERED') {
        this.record(client, agent, this.offer);
        if (this.exhausted(agent)) return true;
      } else if (verdict === 'NOTHING_AVAILABLE') {
        // Depends on the role only: the role's other frameworks fare alike.
        return false;
      } else if (
        (verdict === 'QUOTA_LIMIT' || verdict === 'HEADROOM') &&
        !agent.hasRevocable &&
        !agent.hasShared
      ) {
        // Quota caps the role; only revocable or shared resources (which quota does not count)
        // could still go to another framework of the role that has the capability.
        return false;
      }
    }
    return false;
  }

  private exhausted(agent: AgentState): boolean {
    return agent.available.isEmpty() && agent.sharedTotal.isEmpty();
  }

  /**
   * Whether `client` may be offered something from `agent` now (the offer is left in `this.offer`),
   * or the first reason it may not. The cycle and `explain` share this, so explanations cannot
   * drift from what the cycle does.
   */
  private evaluate(client: FrameworkClient, agent: AgentState, now: number, stage: Stage): Verdict {
    const framework = client.framework;
    if (agent.hasGpus && this.filterGpuResources && !framework.gpu) return 'CAPABILITY_MISSING';
    const role = client.role;
    const minimum = framework.minimumByRole?.get(role.name) ?? this.minimum;
    const memo = this.candidate(agent, role.name, framework);
    let offer = memo.offer;
    if (offer.isEmpty()) return memo.stripped ? 'CAPABILITY_MISSING' : 'NOTHING_AVAILABLE';
    if (this.quota.roles.size > 0 && (this.quota.headroomRequired || this.quota.pathHasQuota(role))) {
      if (this.quota.capsFor(role, this.caps, this.limitCaps)) {
        const chopped = chopToCaps(offer, this.caps, this.names, this.chopScratch);
        if (chopped !== offer) {
          if (chopped.isEmpty() || !this.worthOffering(chopped, minimum)) {
            if (!this.worthOffering(offer, minimum)) return 'BELOW_MIN_ALLOCATABLE';
            const limited = chopToCaps(offer, this.limitCaps, this.names, this.chopScratch);
            return limited.isEmpty() || !this.worthOffering(limited, minimum) ? 'QUOTA_LIMIT' : 'HEADROOM';
          }
          offer = chopped;
        }
      }
    }
    if (stage === Stage.Guarantees) {
      const guaranteed = this.quota.guaranteedAncestor(role);
      if (guaranteed === undefined || !advancesGuarantee(offer, guaranteed, this.quota, this.names))
        return 'NO_GUARANTEE_PROGRESS';
    }
    if (!this.worthOffering(offer, minimum)) return 'BELOW_MIN_ALLOCATABLE';
    const filter = blockingFilter(client, agent.number, offer, now);
    if (filter !== undefined) {
      this.blocking = filter;
      return 'FILTERED';
    }
    this.offer = offer;
    return 'OFFERED';
  }

  /**
   * What `agent` could offer a framework of `role` before quota: unreserved resources and those
   * reserved to the role or an ancestor, shared volumes not yet offered this cycle, minus what the
   * framework's capabilities rule out. Most agents (nothing reserved, shared or revocable) take the
   * fast path: the available resources themselves.
   */
  private candidate(agent: AgentState, role: string, framework: FrameworkState): CandidateMemo {
    if (!agent.hasReservations && !agent.hasRevocable && !agent.hasRefined && !agent.hasShared) {
      const memo = this.fastMemo;
      memo.offer = agent.available;
      return memo;
    }
    if (this.memoAgent !== agent) {
      this.memo.clear();
      this.memoAgent = agent;
    }
    const sharedOffered = agent.sharedOfferedCycle === this.cycle ? agent.sharedOffered : Resources.EMPTY;
    const key = `${role}\u0000${framework.revocable ? 'r' : ''}${framework.shared ? 's' : ''}${framework.refinement ? 'f' : ''}`;
    const cached = this.memo.get(key);
    if (
      cached !== undefined &&
      cached.available === agent.available &&
      cached.sharedOffered === sharedOffered
    )
      return cached;
    let offer = agent.hasReservations ? agent.available.allocatableTo(role) : agent.available;
    let stripped = false;
    if (agent.hasShared) {
      const shared = agent.sharedTotal.allocatableTo(role).subtract(sharedOffered);
      if (framework.shared) offer = offer.add(shared);
      else if (!shared.isEmpty()) stripped = true;
    }
    if (agent.hasRevocable && !framework.revocable) {
      const firm = offer.nonRevocable();
      if (firm !== offer) stripped = true;
      offer = firm;
    }
    if (agent.hasRefined && !framework.refinement) {
      const plain = offer.filter((item) => !item.hasRefinedReservations);
      if (plain !== offer) stripped = true;
      offer = plain;
    }
    const memo: CandidateMemo = { available: agent.available, sharedOffered, offer, stripped };
    this.memo.set(key, memo);
    return memo;
  }

  /** Whether `offer` holds at least one of the `minimum` alternatives (none: anything non-empty). */
  private worthOffering(offer: Resources, minimum: readonly MinimumAlternative[]): boolean {
    if (minimum.length === 0) return !offer.isEmpty();
    if (offer === this.worthMemoOffer && minimum === this.worthMemoMinimum) return this.worthMemo;
    const quantities = this.offerQuantities;
    clear(quantities);
    accumulate(quantities, this.names, offer, 1);
    let worth = false;
    for (const alternative of minimum) {
      worth = alternative.scalarOnly
        ? containsQuantities(quantities, alternative.quantities)
        : offer.flatten().contains(alternative.resources);
      if (worth) break;
    }
    this.worthMemoOffer = offer;
    this.worthMemoMinimum = minimum;
    this.worthMemo = worth;
    return worth;
  }

  /** Books an offer: off the agent, onto the framework, into the role tree and the quota numbers. */
  private record(client: FrameworkClient, agent: AgentState, offer: Resources): void {
    const role = client.role;
    const framework = client.framework;
    const tagged = offer.allocate(role.name);
    let firm = offer;
    if (agent.hasShared) {
      const shared = offer.shared();
      if (!shared.isEmpty()) {
        const before = agent.sharedOfferedCycle === this.cycle ? agent.sharedOffered : Resources.EMPTY;
        agent.sharedOffered = before.add(shared);
        agent.sharedOfferedCycle = this.cycle;
        firm = offer.nonShared();
      }
    }
    accumulate(this.quota.availableHeadroom, this.names, firm, -1, Part.UnreservedFirm);
    agent.available = firm === agent.available ? Resources.EMPTY : agent.available.subtract(firm);
    const held = framework.allocations.get(agent.number);
    framework.allocations.set(agent.number, held === undefined ? tagged : held.add(tagged));
    this.account(client, offer, 1);
    client.allocationCount++;
    role.self.allocationCount++;
    for (let node: RoleNode | undefined = role; node?.parent !== undefined; node = node.parent)
      node.allocationCount++;
    if (agent.offeredCycle !== this.cycle) {
      agent.offeredCycle = this.cycle;
      agent.offeredCount = 0;
    }
    agent.offeredTo[agent.offeredCount++] = client;
    this.output.push({ frameworkId: framework.id, agentId: agent.id, role: role.name, resources: tagged });
  }

  // --- bookkeeping ----------------------------------------------------------------------------------

  /**
   * Adds (`sign` 1) or removes (-1) `resources` allocated to `client` in the sorters: the framework's
   * own tally (everything) and the role path's consumption (unreserved only: reservations are
   * counted as consumed whether allocated or not).
   */
  private account(client: FrameworkClient, resources: Resources, sign: number): void {
    accumulate(client.allocated, this.names, resources, sign);
    const delta = this.delta;
    clear(delta);
    accumulate(delta, this.names, resources, 1, Part.Unreserved);
    if (!isZero(delta)) {
      addQuantities(client.role.ownConsumed, delta, sign);
      for (let node: RoleNode | undefined = client.role; node?.parent !== undefined; node = node.parent)
        addQuantities(node.subtreeConsumed, delta, sign);
      if (this.quota.roles.size > 0 && this.quota.guaranteedAncestor(client.role) !== undefined)
        this.quota.refresh();
    }
    this.tree.touchPath(client);
  }

  /** Records resources a framework already uses on an agent (re-registration, failover, operations). */
  private track(
    framework: FrameworkState,
    agent: AgentState,
    resources: Resources,
    fromAvailable = true,
  ): void {
    if (resources.isEmpty()) return;
    for (const [role, part] of this.byRole(framework, resources)) {
      const tagged = part.allocate(role);
      if (fromAvailable) {
        const firm = this.nonShared(agent, tagged.unallocate());
        accumulate(this.quota.availableHeadroom, this.names, firm, -1, Part.UnreservedFirm);
        agent.available = agent.available.subtract(firm);
        const held = framework.allocations.get(agent.number);
        framework.allocations.set(agent.number, held === undefined ? tagged : held.add(tagged));
      }
      this.account(this.clientFor(framework, role), tagged, 1);
    }
  }

  /** Takes resources off the framework's tallies (the caller fixes `framework.allocations`). */
  private untrack(framework: FrameworkState, resources: Resources): void {
    const role = singleRole(resources);
    if (role !== null) {
      const client = framework.clients.get(role ?? this.defaultRole(framework));
      if (client !== undefined) this.account(client, resources, -1);
      return;
    }
    for (const [role, part] of this.byRole(framework, resources)) {
      const client = framework.clients.get(role);
      if (client !== undefined) this.account(client, part, -1);
    }
  }

  /** Allocated resources return to the agent's available pool. */
  private giveBack(agent: AgentState, resources: Resources): void {
    const firm = this.nonShared(agent, resources.unallocate());
    accumulate(this.quota.availableHeadroom, this.names, firm, 1, Part.UnreservedFirm);
    agent.available = agent.available.add(firm);
  }

  /** `resources` split by allocation role; untagged resources count for the framework's first role. */
  private byRole(framework: FrameworkState, resources: Resources): Map<string, Resources> {
    const role = singleRole(resources);
    if (role !== null) return new Map([[role ?? this.defaultRole(framework), resources]]);
    const groups = new Map<string, Resources>();
    const untagged = resources.filter((item) => item.allocationRole === undefined);
    if (!untagged.isEmpty()) groups.set(this.defaultRole(framework), untagged);
    for (const [role, part] of resources.allocations())
      groups.set(role, (groups.get(role) ?? Resources.EMPTY).add(part));
    return groups;
  }

  private defaultRole(framework: FrameworkState): string {
    return framework.spec?.roles[0] ?? framework.clients.keys().next().value ?? '*';
  }

  /** Adds the agent's total to the cluster totals and its reservations to the role tree. */
  private setTotal(agent: AgentState, total: Resources): void {
    agent.total = total;
    let gpus = false;
    let reserved = false;
    let revocable = false;
    let refined = false;
    let shared = false;
    for (const item of total.items()) {
      if (item.name === 'gpus' && item.milli > 0) gpus = true;
      if (item.reservations.length > 0) reserved = true;
      if (item.reservations.length > 1) refined = true;
      if (item.revocable) revocable = true;
      if (item.shared) shared = true;
    }
    agent.hasGpus = gpus;
    agent.hasReservations = reserved;
    agent.hasRevocable = revocable;
    agent.hasRefined = refined;
    agent.hasShared = shared;
    agent.sharedTotal = shared ? total.shared() : Resources.EMPTY;
    accumulate(this.tree.totals, this.names, total, 1);
    if (reserved) this.accountReservations(total, 1);
  }

  /**
   * A new total for a known agent. Operations (RESERVE, CREATE, ...) only convert resources, so the
   * cluster totals usually stay the same and the order need not be rebuilt.
   */
  private replaceTotal(agent: AgentState, total: Resources): void {
    const before = this.tree.totals.slice();
    this.unsetTotal(agent);
    this.setTotal(agent, total);
    const after = this.tree.totals;
    let changed = before.length !== after.length;
    for (let i = 0; i < after.length && !changed; i++) if (before[i] !== after[i]) changed = true;
    if (changed) this.tree.markStale();
  }

  private unsetTotal(agent: AgentState): void {
    accumulate(this.tree.totals, this.names, agent.total, -1);
    if (agent.hasReservations) this.accountReservations(agent.total, -1);
  }

  /** Reserved scalars count as consumed by their (innermost) role whether allocated or not. */
  private accountReservations(total: Resources, sign: number): void {
    for (const item of total.items()) {
      const role = item.reservationRole;
      if (role === undefined || item.type !== 'SCALAR') continue;
      const node = this.tree.ensure(role);
      const index = this.names.numberOf(item.name);
      const amount = sign * item.milli;
      addAt(node.ownReserved, index, amount);
      addAt(node.ownConsumed, index, amount);
      for (let up: RoleNode | undefined = node; up?.parent !== undefined; up = up.parent)
        addAt(up.subtreeConsumed, index, amount);
      this.tree.touchRole(node);
      if (sign < 0) this.tree.prune(node);
    }
    if (this.quota.roles.size > 0) this.quota.refresh();
  }

  private nonShared(agent: AgentState, resources: Resources): Resources {
    return agent.hasShared ? resources.nonShared() : resources;
  }

  // --- framework clients ----------------------------------------------------------------------------

  private ensureFramework(id: string): FrameworkState {
    let framework = this.frameworks.get(id);
    if (framework === undefined) {
      framework = {
        id,
        spec: undefined,
        active: false,
        suppressed: new Set(),
        gpu: false,
        revocable: false,
        shared: false,
        refinement: false,
        minimumByRole: undefined,
        allocations: new Map(),
        clients: new Map(),
      };
      this.frameworks.set(id, framework);
    }
    return framework;
  }

  private applySpec(framework: FrameworkState, spec: FrameworkSpec): void {
    framework.spec = spec;
    framework.suppressed = new Set(spec.suppressedRoles);
    framework.gpu = spec.capabilities.has(GPU_RESOURCES);
    framework.revocable = spec.capabilities.has(REVOCABLE_RESOURCES);
    framework.shared = spec.capabilities.has(SHARED_RESOURCES);
    framework.refinement = spec.capabilities.has(RESERVATION_REFINEMENT);
    let minimumByRole: Map<string, readonly MinimumAlternative[]> | undefined;
    for (const [role, alternatives] of spec.minAllocatable ?? []) {
      minimumByRole ??= new Map();
      minimumByRole.set(role, this.minimumAlternatives(alternatives));
    }
    framework.minimumByRole = minimumByRole;
  }

  private clientFor(framework: FrameworkState, role: string): FrameworkClient {
    let client = framework.clients.get(role);
    if (client === undefined) {
      const node = this.tree.ensure(role);
      client = new FrameworkClient(framework, node);
      node.clients.set(framework.id, client);
      framework.clients.set(role, client);
    }
    return client;
  }

  /** Puts each of the framework's roles in or out of the sorters to match its state. */
  private refreshClients(framework: FrameworkState): void {
    const roles = framework.spec?.roles ?? [];
    for (const role of roles) this.clientFor(framework, role);
    for (const [role, client] of framework.clients) {
      const active =
        framework.active &&
        framework.spec !== undefined &&
        roles.includes(role) &&
        !framework.suppressed.has(role);
      this.tree.setClientActive(client, active);
    }
    this.dropIdleClients(framework);
  }

  /** A client of a role the framework left stays only while it still holds resources there. */
  private dropIdleClients(framework: FrameworkState): void {
    const roles = framework.spec?.roles ?? [];
    for (const [role, client] of framework.clients) {
      if (!roles.includes(role) && isZero(client.allocated)) this.dropClient(client);
    }
  }

  private dropClient(client: FrameworkClient): void {
    this.tree.setClientActive(client, false);
    client.role.clients.delete(client.framework.id);
    client.framework.clients.delete(client.role.name);
    this.tree.prune(client.role);
  }

  private minimumAlternatives(alternatives: readonly Resources[]): readonly MinimumAlternative[] {
    return alternatives.map((resources) => {
      const quantities: Quantities = [];
      accumulate(quantities, this.names, resources.flatten(), 1);
      const flat = resources.flatten();
      return {
        resources: flat,
        quantities,
        scalarOnly: flat.items().every((item) => item.type === 'SCALAR'),
      };
    });
  }

  // --- explaining -----------------------------------------------------------------------------------

  explain(frameworkId: string, agentId?: string): OfferExplanation[] {
    const framework = this.frameworks.get(frameworkId);
    if (framework === undefined) return [];
    let agents: readonly AgentState[] = this.agentList;
    if (agentId !== undefined) {
      const agent = this.agents.get(agentId);
      agents = agent === undefined ? [] : [agent];
    }
    const roles = framework.spec?.roles ?? [...framework.clients.keys()];
    const out: OfferExplanation[] = [];
    for (const agent of agents) for (const role of roles) out.push(this.explainOne(framework, agent, role));
    this.memoAgent = undefined;
    this.worthMemoOffer = undefined;
    return out;
  }

  private explainOne(framework: FrameworkState, agent: AgentState, role: string): OfferExplanation {
    const base = { frameworkId: framework.id, agentId: agent.id, role };
    const say = (reason: OfferExplanationReason, message: string): OfferExplanation => ({
      ...base,
      reason,
      message,
    });
    const client = framework.clients.get(role);
    const offeredNow = agent.offeredCycle === this.cycle;
    const offeredTo = offeredNow ? agent.offeredTo.slice(0, agent.offeredCount) : [];
    if (client !== undefined && offeredTo.includes(client))
      return say('OFFERED', `offered in cycle ${this.cycle}`);
    if (framework.spec === undefined || !framework.active || client === undefined)
      return say('FRAMEWORK_INACTIVE', 'the framework is not connected, so it gets no offers');
    if (framework.suppressed.has(role))
      return say('SUPPRESSED', `the framework suppressed offers for role '${role}' until it revives`);
    if (!agent.active) return say('AGENT_INACTIVE', 'the agent is disconnected or draining');
    const verdict = this.evaluate(client, agent, this.lastNow, Stage.FairShare);
    const takers = offeredNow
      ? offeredTo
          .filter((other) => other !== client)
          .map((other) => `${other.framework.id} (${other.role.name})`)
      : [];
    switch (verdict) {
      case 'OFFERED':
      case 'NO_GUARANTEE_PROGRESS':
        return say(
          'FAIR_SHARE_ORDER',
          takers.length > 0
            ? `lower in the fair-share order: the agent's resources went to ${takers.join(', ')}`
            : 'nothing blocks an offer; resources freed after the last cycle go out in the next one',
        );
      case 'NOTHING_AVAILABLE':
        return takers.length > 0
          ? say(
              'FAIR_SHARE_ORDER',
              `lower in the fair-share order: the agent's resources went to ${takers.join(', ')}`,
            )
          : say('NOTHING_AVAILABLE', `the agent has nothing available to role '${role}'`);
      case 'FILTERED': {
        const filter = this.blocking!;
        return {
          ...say(
            'FILTERED',
            `filtered until ${new Date(filter.expiresAt).toISOString()} after the framework refused ${filter.refused}`,
          ),
          filteredUntil: filter.expiresAt,
        };
      }
      case 'QUOTA_LIMIT':
        return say('QUOTA_LIMIT', `role '${role}' (or a parent) consumes its quota limit`);
      case 'HEADROOM':
        return say('HEADROOM', "what is left is held back for other roles' unmet quota guarantees");
      case 'BELOW_MIN_ALLOCATABLE':
        return say(
          'BELOW_MIN_ALLOCATABLE',
          framework.minimumByRole?.has(role) === true
            ? "what is available is below the framework's min_allocatable_resources for the role"
            : 'what is available is below --min_allocatable_resources',
        );
      case 'CAPABILITY_MISSING':
        return say(
          'CAPABILITY_MISSING',
          agent.hasGpus && this.filterGpuResources && !framework.gpu
            ? 'the agent has GPUs and the framework lacks GPU_RESOURCES'
            : 'what is available needs a capability the framework lacks (REVOCABLE_RESOURCES, SHARED_RESOURCES or RESERVATION_REFINEMENT)',
        );
      default:
        return say(verdict, verdict);
    }
  }

  roles(): RoleStatus[] {
    const out: RoleStatus[] = [];
    for (const node of this.tree.all()) {
      const status: RoleStatus = {
        role: node.name,
        weight: node.weight,
        share: node.currentShare(this.tree),
        consumed: this.names.toMap(node.subtreeConsumed),
        frameworks: [...node.clients.keys()].sort(),
      };
      if (node.quota !== undefined) status.quota = node.quota.config;
      out.push(status);
    }
    return out.sort((a, b) => (a.role < b.role ? -1 : a.role > b.role ? 1 : 0));
  }
}

/** The one allocation role of all items (undefined: all untagged), or null when they differ. */
function singleRole(resources: Resources): string | undefined | null {
  const items = resources.items();
  const first = items[0]?.allocationRole;
  for (let i = 1; i < items.length; i++) if (items[i]!.allocationRole !== first) return null;
  return first;
}

function addAt(quantities: Quantities, index: number, amount: number): void {
  while (quantities.length <= index) quantities.push(0);
  quantities[index] = (quantities[index] ?? 0) + amount;
}
