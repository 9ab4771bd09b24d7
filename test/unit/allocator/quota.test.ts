import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { QuotaConfig } from '../../../src/allocator/allocator.js';
import { parseResources } from '../../../src/resources/flags.js';
import { addAgents, makeAllocator, offersPerFramework, spec, T0, total } from './helpers.js';

function quota(guarantees: Record<string, number>, limits: Record<string, number> = {}): QuotaConfig {
  return { guarantees: new Map(Object.entries(guarantees)), limits: new Map(Object.entries(limits)) };
}

describe('quota guarantees', () => {
  const cases: Array<{
    name: string;
    guarantee: Record<string, number>;
    weightB: number;
    a: number;
    b: number;
  }> = [
    {
      name: 'guarantee of 6 beats a heavier role',
      guarantee: { cpus: 6, mem: 600 },
      weightB: 10,
      a: 6,
      b: 4,
    },
    { name: 'guarantee of 3, then fair share', guarantee: { cpus: 3, mem: 300 }, weightB: 1, a: 5, b: 5 },
    { name: 'no guarantee: weights alone', guarantee: {}, weightB: 4, a: 2, b: 8 },
  ];
  for (const c of cases) {
    it(`is served before fair share: ${c.name}`, () => {
      const allocator = makeAllocator({ weights: new Map([['b', c.weightB]]) });
      addAgents(allocator, 10, 'cpus:1;mem:100');
      allocator.addFramework('A', spec(['a']), new Map(), true);
      allocator.addFramework('B', spec(['b']), new Map(), true);
      if (Object.keys(c.guarantee).length > 0) allocator.updateQuota('a', quota(c.guarantee));
      const counts = offersPerFramework(allocator.allocate(T0));
      assert.equal(counts.get('A') ?? 0, c.a);
      assert.equal(counts.get('B') ?? 0, c.b);
    });
  }

  it('holds headroom back for an unmet guarantee of a role without frameworks', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 10, 'cpus:1;mem:100');
    allocator.updateQuota('reserved-for-later', quota({ cpus: 4, mem: 400 }));
    allocator.addFramework('B', spec(['b']), new Map(), true);
    const allocations = allocator.allocate(T0);
    assert.equal(total(allocations, 'cpus'), 6);
    const heldBack = allocator.explain('B').filter((e) => e.reason === 'HEADROOM');
    assert.equal(heldBack.length, 4);
  });

  it('headroom only covers the resources the guarantee names', () => {
    const allocator = makeAllocator({ minAllocatable: [parseResources('mem:32')] });
    addAgents(allocator, 4, 'cpus:1;mem:100');
    allocator.updateQuota('q', quota({ cpus: 2 }));
    allocator.addFramework('B', spec(['b']), new Map(), true);
    const allocations = allocator.allocate(T0);
    // Two agents whole, two with their memory only: the cpus stay for q.
    assert.equal(total(allocations, 'cpus'), 2);
    assert.equal(total(allocations, 'mem'), 400);
  });

  it('headroom is released once the guarantee is consumed', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 4, 'cpus:1;mem:100');
    allocator.updateQuota('q', quota({ cpus: 2, mem: 200 }));
    allocator.addFramework('B', spec(['b']), new Map(), true);
    assert.equal(allocator.allocate(T0).length, 2);
    allocator.addFramework('Q', spec(['q']), new Map(), true);
    const counts = offersPerFramework(allocator.allocate(T0 + 1000));
    assert.equal(counts.get('Q'), 2);
    allocator.updateQuota('q', quota({}));
    assert.deepEqual(
      allocator.roles().map((r) => r.role),
      ['b', 'q'],
    );
  });
});

describe('quota limits', () => {
  it('cap what a role is offered, whole agents', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 10, 'cpus:1;mem:100');
    allocator.addFramework('A', spec(['a']), new Map(), true);
    allocator.addFramework('B', spec(['b']), new Map(), true);
    allocator.updateQuota('a', quota({}, { cpus: 3, mem: 300 }));
    allocator.updateWeights(new Map([['a', 100]]));
    const counts = offersPerFramework(allocator.allocate(T0));
    assert.deepEqual([counts.get('A'), counts.get('B')], [3, 7]);
  });

  it('chop an agent down to what is left of the limit', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 1, 'cpus:8;mem:800;ports:[31000-31009]');
    allocator.addFramework('A', spec(['a']), new Map(), true);
    allocator.updateQuota('a', quota({}, { cpus: 3 }));
    const [offer] = allocator.allocate(T0);
    assert.equal(offer?.resources.cpus(), 3);
    assert.equal(offer?.resources.mem(), 800, 'no limit on mem');
    assert.equal(offer?.resources.ports()?.toString(), '[31000-31009]');
  });

  it('a parent limit caps its children together', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 10, 'cpus:1;mem:100');
    allocator.addFramework('web', spec(['eng/web']), new Map(), true);
    allocator.addFramework('db', spec(['eng/db']), new Map(), true);
    allocator.updateQuota('eng', quota({}, { cpus: 4, mem: 400 }));
    assert.equal(allocator.allocate(T0).length, 4);
    const reasons = new Set(allocator.explain('web').map((e) => e.reason));
    assert.ok(reasons.has('QUOTA_LIMIT'));
  });

  it('reservations count toward the limit whether allocated or not', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 1, 'cpus(a):2;mem(a):200');
    addAgents(allocator, 4, 'cpus:1;mem:100', 'free');
    allocator.addFramework('A', spec(['a']), new Map(), true);
    allocator.updateQuota('a', quota({}, { cpus: 3, mem: 300 }));
    const allocations = allocator.allocate(T0);
    // 2 reserved + 1 unreserved agent = the limit of 3.
    assert.equal(total(allocations, 'cpus'), 3);
  });
});
