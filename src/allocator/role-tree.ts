/**
 * The role tree and its DRF sorters (reference §6.3).
 *
 * Roles are `/`-separated paths; each path component is a `RoleNode` under the (nameless) root. A
 * node orders its children, plus a `RoleSelf` leaf standing for the frameworks subscribed to
 * exactly that role (Mesos' virtual `.` leaf), by weighted dominant share. Each node also orders its
 * own frameworks (`FrameworkClient`, one per framework × role) by their dominant share within the
 * role. A depth-first walk over these orders is the allocation order.
 *
 * Keeping it warm: every ordered set holds only *active* entries (a suppressed or deactivated
 * framework, or a subtree without any active framework, is not in its parent's set), so a walk
 * never steps over idle clients. When an entry's share changes it is repositioned (binary search
 * out, binary search in) instead of re-sorting; only a change of the cluster total or of weights,
 * which moves every share, marks the tree stale for one full re-sort before the next cycle.
 */
import type { RefusalFilter } from './filters.js';
import { dominantShare, isZero, type Quantities } from './quantities.js';
import type { FrameworkState, QuotaState } from './state.js';

/** Something ordered by (weighted share, allocations made, name), ascending. */
export abstract class SortEntry {
  /** The share the entry is currently ordered by; refreshed only when repositioned. */
  sortShare = 0;
  /** How many allocations went to the entry: equal shares take turns (Mesos' tie-break). */
  allocationCount = 0;
  /** `allocationCount` as of the last positioning (the key the entry is ordered by). */
  sortCount = 0;
  /** Whether the entry sits in its home set (it has something active to offer to). */
  inSet = false;
  /** Its share changed during the current agent's visit; repositioned after the visit. */
  pending = false;
  abstract readonly sortName: string;
  /** The share as it is now, weighted. */
  abstract currentShare(tree: RoleTree): number;
  /** The ordered set the entry lives in when active. */
  abstract home(): OrderedSet<SortEntry> | undefined;
}

function compareEntries(a: SortEntry, b: SortEntry): number {
  if (a.sortShare !== b.sortShare) return a.sortShare - b.sortShare;
  if (a.sortCount !== b.sortCount) return a.sortCount - b.sortCount;
  return a.sortName < b.sortName ? -1 : a.sortName > b.sortName ? 1 : 0;
}

/** A sorted array with binary-search insert and remove; `dirty` defers ordering to `sortIfDirty`. */
export class OrderedSet<T extends SortEntry> {
  readonly items: T[] = [];
  dirty = false;

  get size(): number {
    return this.items.length;
  }

  insert(entry: T): void {
    if (this.dirty) {
      this.items.push(entry);
      return;
    }
    let low = 0;
    let high = this.items.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compareEntries(this.items[mid]!, entry) < 0) low = mid + 1;
      else high = mid;
    }
    this.items.splice(low, 0, entry);
  }

  remove(entry: T): void {
    const index = this.indexOf(entry);
    if (index < 0) return;
    const items = this.items;
    // Shift by hand: `splice` would allocate an array of the removed elements on every move.
    for (let i = index; i < items.length - 1; i++) items[i] = items[i + 1]!;
    items.length--;
  }

  /**
   * Re-keys `entry` (a member) and moves it to its new place: one binary search out under the old
   * key, one in under the new key, and a shift of the entries in between.
   */
  move(entry: T, share: number, count: number): void {
    if (this.dirty) {
      entry.sortShare = share;
      entry.sortCount = count;
      return;
    }
    const items = this.items;
    let from = this.indexOf(entry);
    entry.sortShare = share;
    entry.sortCount = count;
    if (from < 0) return;
    while (from + 1 < items.length && compareEntries(items[from + 1]!, entry) < 0) {
      items[from] = items[from + 1]!;
      from++;
    }
    while (from > 0 && compareEntries(items[from - 1]!, entry) > 0) {
      items[from] = items[from - 1]!;
      from--;
    }
    items[from] = entry;
  }

  private indexOf(entry: T): number {
    if (this.dirty) return this.items.indexOf(entry);
    let low = 0;
    let high = this.items.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compareEntries(this.items[mid]!, entry) < 0) low = mid + 1;
      else high = mid;
    }
    // Keys are unique (names break ties), so a consistent set finds the entry right there.
    return this.items[low] === entry ? low : this.items.indexOf(entry);
  }

  sortIfDirty(): void {
    if (!this.dirty) return;
    this.items.sort(compareEntries);
    this.dirty = false;
  }
}

/** A framework as a client of one role's framework sorter. */
export class FrameworkClient extends SortEntry {
  readonly sortName: string;
  /** Everything allocated to the framework in this role (reserved or not), in thousandths. */
  readonly allocated: Quantities = [];
  /** Refusal filters of this framework × role, by agent number. */
  readonly filters = new Map<number, RefusalFilter>();

  constructor(
    readonly framework: FrameworkState,
    readonly role: RoleNode,
  ) {
    super();
    this.sortName = framework.id;
  }

  currentShare(tree: RoleTree): number {
    // Frameworks within a role are not weighted (Mesos weighs roles only).
    return dominantShare(this.allocated, tree.totals, tree.excluded);
  }

  home(): OrderedSet<SortEntry> {
    return this.role.frameworks;
  }
}

/** The frameworks subscribed to exactly one role, as a leaf among that role's children. */
export class RoleSelf extends SortEntry {
  readonly sortName: string;

  constructor(readonly owner: RoleNode) {
    super();
    // `.` sorts the role's own frameworks next to its children by name, like Mesos' virtual leaf.
    this.sortName = owner.name === '' ? '.' : `${owner.name}/.`;
  }

  currentShare(tree: RoleTree): number {
    return dominantShare(this.owner.ownConsumed, tree.totals, tree.excluded) / this.owner.weight;
  }

  home(): OrderedSet<SortEntry> {
    return this.owner.sorted;
  }
}

export class RoleNode extends SortEntry {
  readonly sortName: string;
  readonly children = new Map<string, RoleNode>();
  /** Active children and the active own-frameworks leaf, in DRF order. */
  readonly sorted = new OrderedSet<SortEntry>();
  readonly self: RoleSelf;
  /** Active frameworks of exactly this role, in DRF order. */
  readonly frameworks = new OrderedSet<FrameworkClient>();
  /** Every framework client of this role, active or not (frameworks holding resources here too). */
  readonly clients = new Map<string, FrameworkClient>();
  /**
   * Consumption of exactly this role: resources reserved to it (allocated or not) plus unreserved
   * resources allocated to it. This is what quota limits count and what DRF orders roles by.
   */
  readonly ownConsumed: Quantities = [];
  /** `ownConsumed` summed over the subtree. */
  readonly subtreeConsumed: Quantities = [];
  /** Resources reserved to exactly this role on all agents (kept to know when the role may go). */
  readonly ownReserved: Quantities = [];
  weight = 1;
  quota: QuotaState | undefined;

  constructor(
    readonly name: string,
    readonly parent: RoleNode | undefined,
  ) {
    super();
    this.sortName = name;
    this.self = new RoleSelf(this);
  }

  currentShare(tree: RoleTree): number {
    return dominantShare(this.subtreeConsumed, tree.totals, tree.excluded) / this.weight;
  }

  home(): OrderedSet<SortEntry> | undefined {
    return this.parent?.sorted;
  }
}

/** The whole tree, the cluster totals shares are computed against, and the staleness bookkeeping. */
export class RoleTree {
  readonly root = new RoleNode('', undefined);
  private readonly nodes = new Map<string, RoleNode>();
  /** Sum of every agent's total (all scalars, reserved and revocable included), thousandths. */
  readonly totals: Quantities = [];
  /** Per resource number: excluded from fair sharing. */
  readonly excluded: boolean[] = [];
  /** Every share may have moved (totals or weights changed): re-sort everything before use. */
  private stale = false;
  /** Entries whose share changed since they were last positioned. */
  private readonly pendingEntries: SortEntry[] = [];
  private weights: ReadonlyMap<string, number>;

  constructor(weights: ReadonlyMap<string, number>) {
    this.weights = weights;
  }

  get(role: string): RoleNode | undefined {
    return this.nodes.get(role);
  }

  all(): IterableIterator<RoleNode> {
    return this.nodes.values();
  }

  /** The node for `role`, creating it and its ancestors. */
  ensure(role: string): RoleNode {
    const existing = this.nodes.get(role);
    if (existing !== undefined) return existing;
    const slash = role.lastIndexOf('/');
    const parent = slash < 0 ? this.root : this.ensure(role.slice(0, slash));
    const node = new RoleNode(role, parent);
    node.weight = this.weights.get(role) ?? 1;
    parent.children.set(role, node);
    this.nodes.set(role, node);
    return node;
  }

  setWeights(weights: ReadonlyMap<string, number>): void {
    this.weights = weights;
    for (const node of this.nodes.values()) node.weight = weights.get(node.name) ?? 1;
    this.markStale();
  }

  /** Totals or weights changed: every share is off, so re-sort everything before the next walk. */
  markStale(): void {
    this.stale = true;
  }

  /**
   * Drops `node` and its now-empty ancestors when nothing keeps them: no frameworks, no
   * consumption, no reservations, no quota, no children. Weights live in the weights map, so a
   * re-created role gets its weight back.
   */
  prune(node: RoleNode | undefined): void {
    while (node !== undefined && node !== this.root) {
      if (node.children.size > 0 || node.clients.size > 0 || node.quota !== undefined) return;
      if (!isZero(node.subtreeConsumed) || !isZero(node.ownReserved)) return;
      const parent = node.parent!;
      if (node.inSet) parent.sorted.remove(node);
      parent.children.delete(node.name);
      this.nodes.delete(node.name);
      node = parent;
    }
  }

  // --- activity -------------------------------------------------------------------------------------

  /** Puts a framework client in (or out of) its role's order, and its ancestors with it. */
  setClientActive(client: FrameworkClient, active: boolean): void {
    if (client.inSet === active) return;
    const role = client.role;
    if (active) {
      this.enter(client, role.frameworks);
      if (role.frameworks.size === 1) this.activate(role.self, role);
    } else {
      this.leave(client, role.frameworks);
      if (role.frameworks.size === 0) this.deactivate(role.self, role);
    }
  }

  private activate(entry: SortEntry, parent: RoleNode): void {
    this.enter(entry, parent.sorted);
    if (parent.sorted.size === 1 && parent.parent !== undefined) this.activate(parent, parent.parent);
  }

  private deactivate(entry: SortEntry, parent: RoleNode): void {
    this.leave(entry, parent.sorted);
    if (parent.sorted.size === 0 && parent.parent !== undefined) this.deactivate(parent, parent.parent);
  }

  private enter(entry: SortEntry, set: OrderedSet<SortEntry>): void {
    entry.sortShare = entry.currentShare(this);
    entry.sortCount = entry.allocationCount;
    entry.inSet = true;
    set.insert(entry);
  }

  private leave(entry: SortEntry, set: OrderedSet<SortEntry>): void {
    set.remove(entry);
    entry.inSet = false;
  }

  // --- repositioning --------------------------------------------------------------------------------

  /** Notes that `entry`'s share changed; `reposition()` moves it. Cheap to call repeatedly. */
  touch(entry: SortEntry): void {
    if (entry.pending) return;
    entry.pending = true;
    this.pendingEntries.push(entry);
  }

  /** A framework client's allocation changed: it, its role's leaf and every ancestor move. */
  touchPath(client: FrameworkClient): void {
    this.touch(client);
    const role = client.role;
    this.touch(role.self);
    for (let node: RoleNode | undefined = role; node !== undefined && node !== this.root; node = node.parent)
      this.touch(node);
  }

  /** A role's consumption changed (reservations): its leaf and ancestors move. */
  touchRole(role: RoleNode): void {
    this.touch(role.self);
    for (let node: RoleNode | undefined = role; node !== undefined && node !== this.root; node = node.parent)
      this.touch(node);
  }

  /** Moves every touched entry to its new place. */
  reposition(): void {
    const entries = this.pendingEntries;
    if (entries.length === 0) return;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      entry.pending = false;
      if (!entry.inSet || this.stale) continue;
      const set = entry.home();
      if (set === undefined) continue;
      const share = entry.currentShare(this);
      if (share === entry.sortShare && entry.allocationCount === entry.sortCount) continue;
      set.move(entry, share, entry.allocationCount);
    }
    entries.length = 0;
  }

  /** Before a walk: settle pending moves, and after a stale period recompute and sort everything. */
  prepare(): void {
    if (!this.stale) {
      this.reposition();
      return;
    }
    for (const entry of this.pendingEntries) entry.pending = false;
    this.pendingEntries.length = 0;
    this.resortSubtree(this.root);
    this.stale = false;
  }

  private resortSubtree(node: RoleNode): void {
    for (const entry of node.sorted.items) {
      entry.sortShare = entry.currentShare(this);
      entry.sortCount = entry.allocationCount;
      if (entry instanceof RoleNode) this.resortSubtree(entry);
    }
    node.sorted.dirty = true;
    node.sorted.sortIfDirty();
    for (const client of node.frameworks.items) {
      client.sortShare = client.currentShare(this);
      client.sortCount = client.allocationCount;
    }
    node.frameworks.dirty = true;
    node.frameworks.sortIfDirty();
  }
}
