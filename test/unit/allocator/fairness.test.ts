import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Allocation } from '../../../src/allocator/allocator.js';
import { parseResources } from '../../../src/resources/flags.js';
import { addAgents, makeAllocator, offersPerFramework, spec, T0 } from './helpers.js';

describe('DRF between frameworks of one role', () => {
  it('alternates whole agents between equal frameworks', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 10, 'cpus:1;mem:100');
    allocator.addFramework('A', spec(['*']), new Map(), true);
    allocator.addFramework('B', spec(['*']), new Map(), true);
    const counts = offersPerFramework(allocator.allocate(T0));
    assert.deepEqual([counts.get('A'), counts.get('B')], [5, 5]);
  });

  const convergence: Array<{ name: string; heldByA: number; agents: number; a: number; b: number }> = [
    { name: 'A starts with 4 of 10 agents', heldByA: 4, agents: 10, a: 1, b: 5 },
    { name: 'A starts with 2 of 10 agents', heldByA: 2, agents: 10, a: 3, b: 5 },
    { name: 'A starts with 6 of 12 agents', heldByA: 6, agents: 12, a: 0, b: 6 },
  ];
  for (const c of convergence) {
    it(`converges to equal dominant shares: ${c.name}`, () => {
      const allocator = makeAllocator();
      const ids = addAgents(allocator, c.agents, 'cpus:1;mem:100');
      const used = new Map(ids.slice(0, c.heldByA).map((id) => [id, parseResources('cpus:1;mem:100')]));
      allocator.addFramework('A', spec(['*']), used, true);
      allocator.addFramework('B', spec(['*']), new Map(), true);
      const counts = offersPerFramework(allocator.allocate(T0));
      assert.equal(counts.get('A') ?? 0, c.a);
      assert.equal(counts.get('B') ?? 0, c.b);
      assert.equal(c.heldByA + c.a, c.b, 'equal dominant shares after the cycle');
    });
  }

  it('orders by the dominant resource, not by a fixed one', () => {
    const allocator = makeAllocator();
    // A holds most of the memory, B most of the cpus: the next agent goes to the lower dominant share.
    const ids = addAgents(allocator, 4, 'cpus:10;mem:1000');
    allocator.addFramework('A', spec(['*']), new Map([[ids[0]!, parseResources('cpus:1;mem:900')]]), true);
    allocator.addFramework('B', spec(['*']), new Map([[ids[1]!, parseResources('cpus:8;mem:100')]]), true);
    // A: mem 900/4000 = 0.225; B: cpus 8/40 = 0.2 → B first.
    const first = allocator.allocate(T0, [ids[2]!]);
    assert.equal(first[0]?.frameworkId, 'B');
  });

  it('a framework active in two roles gets offers tagged per role', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 4, 'cpus:1;mem:100');
    allocator.addFramework('M', spec(['a', 'b'], ['MULTI_ROLE']), new Map(), true);
    const allocations = allocator.allocate(T0);
    const roles = allocations.map((a) => a.role).sort();
    assert.deepEqual(roles, ['a', 'a', 'b', 'b']);
    for (const a of allocations) assert.ok(a.resources.items().every((r) => r.allocationRole === a.role));
  });

  it('resources recovered go back into the pool and the order follows', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 2, 'cpus:1;mem:100');
    allocator.addFramework('A', spec(['*']), new Map(), true);
    const [first, second] = allocator.allocate(T0);
    assert.ok(first && second);
    allocator.addFramework('B', spec(['*']), new Map(), true);
    allocator.recoverResources('A', first.agentId, first.resources, 0, T0 + 1000);
    // A holds half the cluster, B nothing: the freed agent goes to B.
    assert.equal(allocator.allocate(T0 + 1000)[0]?.frameworkId, 'B');
    allocator.recoverResources('A', second.agentId, second.resources, 0, T0 + 2000);
    allocator.recoverResources('A', second.agentId, second.resources, 0, T0 + 2000);
    // Now A holds nothing (a second recovery of the same offer changes nothing) and B half.
    assert.equal(allocator.allocate(T0 + 3000)[0]?.frameworkId, 'A');
  });

  it('removing a framework frees what it held', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 3, 'cpus:1;mem:100');
    allocator.addFramework('A', spec(['*']), new Map(), true);
    assert.equal(allocator.allocate(T0).length, 3);
    allocator.removeFramework('A');
    allocator.addFramework('B', spec(['*']), new Map(), true);
    assert.equal(offersPerFramework(allocator.allocate(T0 + 1000)).get('B'), 3);
  });

  it('inactive frameworks and agents get and give nothing', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 2, 'cpus:1;mem:100');
    allocator.addFramework('A', spec(['*']), new Map(), false);
    assert.equal(allocator.allocate(T0).length, 0);
    allocator.activateFramework('A');
    allocator.deactivateAgent('agent0');
    const allocations = allocator.allocate(T0 + 1000);
    assert.deepEqual(
      allocations.map((a) => a.agentId),
      ['agent1'],
    );
    allocator.activateAgent('agent0');
    assert.deepEqual(
      allocator.allocate(T0 + 2000).map((a) => a.agentId),
      ['agent0'],
    );
  });

  it('an agent re-registering with used resources counts them for their framework', () => {
    const allocator = makeAllocator();
    allocator.addFramework('A', spec(['*']), new Map(), true);
    allocator.addFramework('B', spec(['*']), new Map(), true);
    allocator.addAgent(
      'big',
      { hostname: 'big', total: parseResources('cpus:4;mem:400') },
      new Map([['A', parseResources('cpus:3;mem:300').allocate('*')]]),
    );
    addAgents(allocator, 1, 'cpus:1;mem:100');
    const allocations = allocator.allocate(T0);
    const onBig = allocations.find((a) => a.agentId === 'big');
    assert.equal(onBig?.resources.cpus(), 1, 'only the unused part is offered');
    // B (share 0) is ahead of A (share 3/5) for whichever agent comes first.
    assert.equal(offersPerFramework(allocations).get('B'), 2);
  });

  it('updateAgent changes the total and keeps what is allocated', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 1, 'cpus:2;mem:200');
    allocator.addFramework('A', spec(['*']), new Map(), true);
    assert.equal(allocator.allocate(T0)[0]?.resources.cpus(), 2);
    allocator.updateAgent('agent0', parseResources('cpus:3;mem:300'));
    const [more] = allocator.allocate(T0 + 1000);
    assert.equal(more?.resources.cpus(), 1);
    assert.equal(more?.resources.mem(), 100);
    allocator.removeAgent('agent0');
    assert.equal(allocator.allocate(T0 + 2000).length, 0);
  });
  it('--fair_sharing_excluded_resource_names leaves a resource out of the shares', () => {
    for (const [excluded, first] of [
      [[], 'B'],
      [['gpus'], 'A'],
    ] as const) {
      const allocator = makeAllocator({ fairnessExcludedResourceNames: excluded });
      const ids = addAgents(allocator, 3, 'cpus:10;mem:1000;gpus:1');
      // A holds 2 of 3 GPUs (share 2/3 counting GPUs), B a third of the cpus.
      allocator.addFramework(
        'A',
        spec(['a'], ['GPU_RESOURCES']),
        new Map([[ids[0]!, parseResources('cpus:1;gpus:2').allocate('a')]]),
        true,
      );
      allocator.addFramework(
        'B',
        spec(['b'], ['GPU_RESOURCES']),
        new Map([[ids[1]!, parseResources('cpus:10').allocate('b')]]),
        true,
      );
      assert.equal(
        allocator.allocate(T0, [ids[2]!])[0]?.frameworkId,
        first,
        `excluded: ${excluded.join(',')}`,
      );
    }
  });
});

describe('weights and the role hierarchy', () => {
  it('weights 1 and 3 split a full cluster 1:3', () => {
    const allocator = makeAllocator({ weights: new Map([['b', 3]]) });
    addAgents(allocator, 8, 'cpus:1;mem:100');
    allocator.addFramework('A', spec(['a']), new Map(), true);
    allocator.addFramework('B', spec(['b']), new Map(), true);
    const counts = offersPerFramework(allocator.allocate(T0));
    assert.deepEqual([counts.get('A'), counts.get('B')], [2, 6]);
  });

  it('UPDATE_WEIGHTS re-sorts the roles', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 8, 'cpus:1;mem:100');
    allocator.addFramework('A', spec(['a']), new Map(), true);
    allocator.addFramework('B', spec(['b']), new Map(), true);
    allocator.updateWeights(new Map([['a', 3]]));
    const counts = offersPerFramework(allocator.allocate(T0));
    assert.deepEqual([counts.get('A'), counts.get('B')], [6, 2]);
  });

  it("a parent role's share includes its children", () => {
    const allocator = makeAllocator();
    addAgents(allocator, 8, 'cpus:1;mem:100');
    allocator.addFramework('web', spec(['eng/web']), new Map(), true);
    allocator.addFramework('db', spec(['eng/db']), new Map(), true);
    allocator.addFramework('ops', spec(['ops']), new Map(), true);
    const counts = offersPerFramework(allocator.allocate(T0));
    // eng (two children) and ops split evenly; within eng, web and db split eng's half.
    assert.equal(counts.get('ops'), 4);
    assert.equal(counts.get('web'), 2);
    assert.equal(counts.get('db'), 2);
    const roles = new Map(allocator.roles().map((r) => [r.role, r]));
    assert.equal(roles.get('eng')?.share, 0.5);
    assert.equal(roles.get('ops')?.share, 0.5);
    assert.equal(roles.get('eng/web')?.share, 0.25);
    assert.equal(roles.get('eng')?.consumed.get('cpus'), 4);
  });

  it('a busy sibling makes the whole parent wait', () => {
    const allocator = makeAllocator();
    const ids = addAgents(allocator, 6, 'cpus:1;mem:100');
    const used = new Map(
      ids.slice(0, 3).map((id) => [id, parseResources('cpus:1;mem:100').allocate('eng/web')]),
    );
    allocator.addFramework('web', spec(['eng/web']), used, true);
    allocator.addFramework('db', spec(['eng/db']), new Map(), true);
    allocator.addFramework('ops', spec(['ops']), new Map(), true);
    // eng already holds 3/6: ops (0) is ahead of eng/db although eng/db itself holds nothing.
    const counts = offersPerFramework(allocator.allocate(T0));
    assert.equal(counts.get('ops'), 3);
    assert.equal(counts.get('db') ?? 0, 0);
  });

  it('a role with its own frameworks and children shares between them', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 4, 'cpus:1;mem:100');
    allocator.addFramework('parent', spec(['eng']), new Map(), true);
    allocator.addFramework('child', spec(['eng/web']), new Map(), true);
    const counts = offersPerFramework(allocator.allocate(T0));
    assert.deepEqual([counts.get('parent'), counts.get('child')], [2, 2]);
  });
});

describe('bookkeeping under random calls', () => {
  it('everything handed out comes back: a fresh framework then gets every agent whole', async () => {
    const { seededRandom } = await import('../../../src/allocator/random.js');
    const random = seededRandom(5);
    const allocator = makeAllocator({ weights: new Map([['r1', 2]]) });
    const agentTotals = [
      'cpus:4;mem:400;cpus(r0):2',
      'cpus:8;mem:800;disk:100',
      'cpus:1;mem:64;ports:[1-10]',
    ];
    const agents = new Map<string, string>();
    const outstanding: Allocation[] = [];
    const frameworks: string[] = [];
    let nextAgent = 0;
    let now = T0;
    for (let step = 0; step < 400; step++) {
      const roll = random();
      now += 100;
      if (roll < 0.1 || agents.size === 0) {
        const id = `x${nextAgent++}`;
        const text = agentTotals[Math.floor(random() * agentTotals.length)]!;
        agents.set(id, text);
        allocator.addAgent(id, { hostname: id, total: parseResources(text) }, new Map());
      } else if (roll < 0.15) {
        const id = [...agents.keys()][Math.floor(random() * agents.size)]!;
        agents.delete(id);
        allocator.removeAgent(id);
        for (let i = outstanding.length - 1; i >= 0; i--)
          if (outstanding[i]!.agentId === id) outstanding.splice(i, 1);
      } else if (roll < 0.25) {
        const id = `f${frameworks.length}`;
        frameworks.push(id);
        const roles = [`r${Math.floor(random() * 3)}`, `r${Math.floor(random() * 3)}/sub`];
        allocator.addFramework(id, spec(roles.slice(0, 1 + Math.floor(random() * 2))), new Map(), true);
      } else if (roll < 0.6) {
        outstanding.push(...allocator.allocate(now));
      } else if (outstanding.length > 0) {
        const [a] = outstanding.splice(Math.floor(random() * outstanding.length), 1);
        allocator.recoverResources(a!.frameworkId, a!.agentId, a!.resources, random() < 0.5 ? 0 : 2, now);
      }
    }
    for (const a of outstanding) allocator.recoverResources(a.frameworkId, a.agentId, a.resources, 0, now);
    for (const id of frameworks) allocator.removeFramework(id);
    allocator.addFramework('last', spec(['r0']), new Map(), true);
    const final = allocator.allocate(now + 1000);
    assert.equal(final.length, agents.size);
    for (const a of final) {
      assert.ok(
        a.resources.unallocate().equals(parseResources(agents.get(a.agentId)!)),
        `${a.agentId}: ${a.resources}`,
      );
    }
    // Roles of departed frameworks are gone; r0 stays for its framework (and reservations).
    assert.deepEqual(
      allocator.roles().map((r) => r.role),
      ['r0'],
    );
  });
});
