import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseResources } from '../../../src/resources/flags.js';
import { addAgents, declineAll, makeAllocator, offersPerFramework, spec, T0 } from './helpers.js';

describe('refusal filters', () => {
  const cases: Array<{ name: string; refuseSeconds: number; at: number; filtered: boolean }> = [
    { name: 'within refuse_seconds', refuseSeconds: 5, at: 4_999, filtered: true },
    { name: 'once refuse_seconds passed', refuseSeconds: 5, at: 5_000, filtered: false },
    { name: 'at least one allocation interval', refuseSeconds: 0.1, at: 500, filtered: true },
    { name: 'after one allocation interval', refuseSeconds: 0.1, at: 1_000, filtered: false },
    { name: 'refuse_seconds 0 sets no filter', refuseSeconds: 0, at: 1, filtered: false },
  ];
  for (const c of cases) {
    it(`decline filters the agent for the framework: ${c.name}`, () => {
      const allocator = makeAllocator({ allocationIntervalMs: 1000 });
      addAgents(allocator, 1, 'cpus:1;mem:100');
      allocator.addFramework('A', spec(['*']), new Map(), true);
      declineAll(allocator, allocator.allocate(T0), c.refuseSeconds, T0);
      assert.equal(allocator.allocate(T0 + c.at).length, c.filtered ? 0 : 1);
    });
  }

  it('a refused agent goes to the other framework', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 1, 'cpus:1;mem:100');
    allocator.addFramework('A', spec(['*']), new Map(), true);
    allocator.addFramework('B', spec(['*']), new Map(), true);
    const [first] = allocator.allocate(T0);
    assert.ok(first);
    declineAll(allocator, [first], 60, T0);
    const [second] = allocator.allocate(T0 + 1000);
    assert.notEqual(second?.frameworkId, first.frameworkId);
  });

  it('a larger offer than what was refused gets through', () => {
    const allocator = makeAllocator();
    const ids = addAgents(allocator, 1, 'cpus:4;mem:400');
    allocator.addFramework('A', spec(['*']), new Map(), true);
    allocator.addFramework('B', spec(['*']), new Map(), true);
    const [offer] = allocator.allocate(T0);
    assert.ok(offer);
    // The framework keeps half and declines the rest.
    const rest = parseResources('cpus:2;mem:200').allocate('*');
    allocator.recoverResources(offer.frameworkId, ids[0]!, rest, 60, T0);
    allocator.removeFramework(offer.frameworkId === 'A' ? 'B' : 'A');
    assert.equal(allocator.allocate(T0 + 1000).length, 0, 'the same cpus:2;mem:200 stays filtered');
    allocator.recoverResources(offer.frameworkId, ids[0]!, offer.resources.subtract(rest), 0, T0 + 1000);
    assert.equal(
      allocator.allocate(T0 + 2000)[0]?.resources.cpus(),
      4,
      'the whole agent is more than refused',
    );
  });

  it('filters are per framework × role', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 1, 'cpus:1;mem:100');
    allocator.addFramework('M', spec(['a', 'b']), new Map(), true);
    const [offer] = allocator.allocate(T0);
    assert.ok(offer);
    declineAll(allocator, [offer], 60, T0);
    const [next] = allocator.allocate(T0 + 1000);
    assert.equal(next?.frameworkId, 'M');
    assert.notEqual(next?.role, offer.role);
  });
});

describe('suppress and revive', () => {
  it('a suppressed role gets nothing until revived', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 2, 'cpus:1;mem:100');
    allocator.addFramework('A', spec(['a', 'b']), new Map(), true);
    allocator.suppressOffers('A', ['a']);
    const allocations = allocator.allocate(T0);
    assert.deepEqual(
      allocations.map((a) => a.role),
      ['b', 'b'],
    );
    declineAll(allocator, allocations, 0, T0);
    allocator.suppressOffers('A', []);
    assert.equal(allocator.allocate(T0 + 1000).length, 0);
    allocator.reviveOffers('A', ['a']);
    assert.deepEqual(
      allocator.allocate(T0 + 2000).map((a) => a.role),
      ['a', 'a'],
    );
  });

  it('subscribing with suppressed roles starts them suppressed', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 1, 'cpus:1;mem:100');
    allocator.addFramework('A', spec(['a'], [], ['a']), new Map(), true);
    assert.equal(allocator.allocate(T0).length, 0);
    allocator.reviveOffers('A', []);
    assert.equal(allocator.allocate(T0 + 1000).length, 1);
  });

  it('revive clears the refusal filters', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 1, 'cpus:1;mem:100');
    allocator.addFramework('A', spec(['*']), new Map(), true);
    declineAll(allocator, allocator.allocate(T0), 3600, T0);
    assert.equal(allocator.allocate(T0 + 1000).length, 0);
    allocator.reviveOffers('A', []);
    assert.equal(allocator.allocate(T0 + 2000).length, 1);
  });

  it('updateFramework applies a new role list and suppressed set', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 2, 'cpus:1;mem:100');
    allocator.addFramework('A', spec(['a']), new Map(), true);
    allocator.updateFramework('A', spec(['b']));
    assert.deepEqual(
      allocator.allocate(T0).map((a) => a.role),
      ['b', 'b'],
    );
    assert.deepEqual(
      allocator.roles().map((r) => r.role),
      ['b'],
      'role a is gone once nothing keeps it',
    );
  });
});

describe('minimum allocatable resources', () => {
  const minimum = [parseResources('cpus:0.01'), parseResources('mem:32')];
  const cases: Array<{ left: string; offered: boolean }> = [
    { left: 'cpus:0.005;mem:16', offered: false },
    { left: 'cpus:0.01;mem:16', offered: true },
    { left: 'cpus:0.005;mem:32', offered: true },
    { left: 'disk:1000', offered: false },
  ];
  for (const c of cases) {
    it(`${c.left} is ${c.offered ? '' : 'not '}worth offering`, () => {
      const allocator = makeAllocator({ minAllocatable: minimum });
      addAgents(allocator, 1, c.left);
      allocator.addFramework('A', spec(['*']), new Map(), true);
      assert.equal(allocator.allocate(T0).length, c.offered ? 1 : 0);
    });
  }

  it("a framework's own per-role minimum (offer filters) replaces the global one", () => {
    const allocator = makeAllocator({ minAllocatable: minimum });
    addAgents(allocator, 1, 'cpus:2;mem:256');
    const picky = new Map([['big', [parseResources('cpus:4')]]]);
    allocator.addFramework('A', { ...spec(['big', 'small']), minAllocatable: picky }, new Map(), true);
    const allocations = allocator.allocate(T0);
    assert.deepEqual(
      allocations.map((a) => a.role),
      ['small'],
    );
    declineAll(allocator, allocations, 0, T0);
    allocator.suppressOffers('A', ['small']);
    allocator.allocate(T0 + 1000);
    const [e] = allocator.explain('A', 'agent0').filter((x) => x.role === 'big');
    assert.equal(e?.reason, 'BELOW_MIN_ALLOCATABLE');
    assert.match(e?.message ?? '', /framework's min_allocatable_resources/);
  });

  it('non-scalar alternatives are honoured too', () => {
    const allocator = makeAllocator({ minAllocatable: [parseResources('ports:[1-2]')] });
    addAgents(allocator, 1, 'cpus:1;ports:[1-5]');
    addAgents(allocator, 1, 'cpus:1;ports:[1-1]', 'small');
    allocator.addFramework('A', spec(['*']), new Map(), true);
    assert.deepEqual(
      allocator.allocate(T0).map((a) => a.agentId),
      ['agent0'],
    );
  });
});

describe('determinism', () => {
  function run(seed: number): string[] {
    const allocator = makeAllocator({ seed });
    addAgents(allocator, 30, 'cpus:1;mem:100');
    allocator.addFramework('A', spec(['a']), new Map(), true);
    allocator.addFramework('B', spec(['b/c']), new Map(), true);
    const first = allocator.allocate(T0);
    declineAll(allocator, first, 1, T0);
    const second = allocator.allocate(T0 + 1000);
    return [...first, ...second].map((a) => `${a.frameworkId}@${a.agentId}:${a.resources}`);
  }

  it('the same seed and calls give the same offers', () => {
    assert.deepEqual(run(42), run(42));
  });

  it('another seed permutes the agent order', () => {
    const a = run(1).map((line) => line.split('@')[1]?.split(':')[0]);
    const b = run(2).map((line) => line.split('@')[1]?.split(':')[0]);
    assert.notDeepEqual(a, b);
    assert.deepEqual([...a].sort(), [...b].sort());
  });

  it('offers are spread over the agents in shuffled, not insertion, order', () => {
    const allocator = makeAllocator({ seed: 3 });
    const ids = addAgents(allocator, 30, 'cpus:1;mem:100');
    allocator.addFramework('A', spec(['*']), new Map(), true);
    assert.notDeepEqual(
      allocator.allocate(T0).map((a) => a.agentId),
      ids,
    );
  });

  it('only the named agents are considered in an event-driven run', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 5, 'cpus:1;mem:100');
    allocator.addFramework('A', spec(['*']), new Map(), true);
    assert.deepEqual(
      allocator.allocate(T0, ['agent3']).map((a) => a.agentId),
      ['agent3'],
    );
    assert.equal(offersPerFramework(allocator.allocate(T0 + 1)).get('A'), 4);
  });
});
