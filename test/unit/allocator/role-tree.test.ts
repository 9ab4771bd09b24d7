import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../../../src/allocator/random.js';
import {
  FrameworkClient,
  type OrderedSet,
  RoleNode,
  RoleTree,
  type RoleTree as RoleTreeType,
  type SortEntry,
} from '../../../src/allocator/role-tree.js';
import type { FrameworkState } from '../../../src/allocator/state.js';

function framework(id: string): FrameworkState {
  return {
    id,
    spec: undefined,
    active: true,
    suppressed: new Set(),
    gpu: false,
    revocable: false,
    shared: false,
    refinement: false,
    minimumByRole: undefined,
    allocations: new Map(),
    clients: new Map(),
  };
}

function assertOrdered(tree: RoleTreeType, set: OrderedSet<SortEntry>, where: string): void {
  const keys = set.items.map((e) => [e.currentShare(tree), e.allocationCount, e.sortName] as const);
  for (let i = 1; i < keys.length; i++) {
    const [a, b] = [keys[i - 1]!, keys[i]!];
    const ordered = a[0] < b[0] || (a[0] === b[0] && (a[1] < b[1] || (a[1] === b[1] && a[2] < b[2])));
    assert.ok(ordered, `${where}: ${a.join(',')} before ${b.join(',')}`);
  }
}

function assertTree(tree: RoleTreeType, node: RoleNode): void {
  assertOrdered(tree, node.sorted, node.name || 'root');
  assertOrdered(tree, node.frameworks, `${node.name} frameworks`);
  for (const client of node.clients.values())
    assert.equal(node.frameworks.items.includes(client), client.inSet, `${client.sortName} membership`);
  for (const child of node.children.values()) {
    assert.equal(
      node.sorted.items.includes(child),
      child.sorted.size > 0,
      `${child.name} active iff it has entries`,
    );
    assertTree(tree, child);
  }
}

describe('role tree ordering', () => {
  it('incremental repositioning matches a full sort after random changes', () => {
    const random = seededRandom(11);
    const tree = new RoleTree(new Map([['a', 2]]));
    tree.totals.push(100_000, 400_000);
    const roles = ['a', 'a/x', 'a/y', 'b', 'b/x/deep', 'c'];
    const clients: FrameworkClient[] = [];
    for (let i = 0; i < 30; i++) {
      const role = tree.ensure(roles[i % roles.length]!);
      const client = new FrameworkClient(framework(`fw${String(i).padStart(2, '0')}`), role);
      role.clients.set(client.sortName, client);
      clients.push(client);
      tree.setClientActive(client, true);
    }
    tree.prepare();
    for (let step = 0; step < 2000; step++) {
      const client = clients[Math.floor(random() * clients.length)]!;
      const roll = random();
      if (roll < 0.15) {
        tree.setClientActive(client, !client.inSet);
      } else if (roll < 0.17) {
        tree.setWeights(
          new Map([[roles[Math.floor(random() * roles.length)]!, 1 + Math.floor(random() * 4)]]),
        );
        tree.prepare();
      } else {
        // An allocation (or, sometimes, a recovery) for the client: its role path consumes it.
        const sign = random() < 0.3 ? -1 : 1;
        const delta = [Math.floor(random() * 1000), Math.floor(random() * 4000)];
        for (let r = 0; r < 2; r++) {
          const amount = sign * Math.min(delta[r]!, sign < 0 ? (client.allocated[r] ?? 0) : Number.MAX_VALUE);
          client.allocated[r] = (client.allocated[r] ?? 0) + amount;
          client.role.ownConsumed[r] = (client.role.ownConsumed[r] ?? 0) + amount;
          for (let node: RoleNode | undefined = client.role; node?.parent !== undefined; node = node.parent)
            node.subtreeConsumed[r] = (node.subtreeConsumed[r] ?? 0) + amount;
        }
        if (sign > 0) {
          client.allocationCount++;
          client.role.self.allocationCount++;
          for (let node: RoleNode | undefined = client.role; node?.parent !== undefined; node = node.parent)
            node.allocationCount++;
        }
        tree.touchPath(client);
        tree.reposition();
      }
      assertTree(tree, tree.root);
    }
  });

  it('a stale tree (totals changed) is fully re-sorted by prepare()', () => {
    const tree = new RoleTree(new Map());
    tree.totals.push(1000, 1000);
    const a = tree.ensure('a');
    const b = tree.ensure('b');
    const clientA = new FrameworkClient(framework('A'), a);
    const clientB = new FrameworkClient(framework('B'), b);
    for (const c of [clientA, clientB]) {
      c.role.clients.set(c.sortName, c);
      tree.setClientActive(c, true);
    }
    // a holds cpus, b holds mem; shrinking the cpu total makes a's share the larger.
    a.subtreeConsumed.push(100, 0);
    b.subtreeConsumed.push(0, 200);
    tree.touchRole(a);
    tree.touchRole(b);
    tree.reposition();
    assert.deepEqual(
      tree.root.sorted.items.map((e) => e.sortName),
      ['a', 'b'],
    );
    tree.totals[0] = 200;
    tree.markStale();
    tree.prepare();
    assert.deepEqual(
      tree.root.sorted.items.map((e) => e.sortName),
      ['b', 'a'],
    );
    assert.ok(tree.root.sorted.items.every((e) => e instanceof RoleNode));
  });
});
