import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { OfferExplanation } from '../../../src/allocator/allocator.js';
import { parseResources } from '../../../src/resources/flags.js';
import { addAgents, declineAll, makeAllocator, spec, T0 } from './helpers.js';

function only(explanations: OfferExplanation[]): OfferExplanation {
  assert.equal(explanations.length, 1);
  return explanations[0]!;
}

describe('explain', () => {
  it('OFFERED for what went out in the last cycle', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 1, 'cpus:1;mem:100');
    allocator.addFramework('A', spec(['*']), new Map(), true);
    allocator.allocate(T0);
    assert.equal(only(allocator.explain('A', 'agent0')).reason, 'OFFERED');
  });

  it('FILTERED until the filter lapses', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 1, 'cpus:1;mem:100');
    allocator.addFramework('A', spec(['*']), new Map(), true);
    declineAll(allocator, allocator.allocate(T0), 30, T0);
    allocator.allocate(T0 + 1000);
    const e = only(allocator.explain('A', 'agent0'));
    assert.equal(e.reason, 'FILTERED');
    assert.equal(e.filteredUntil, T0 + 30_000);
    assert.match(e.message, /filtered until 1970-01-01T00:17:10\.000Z/);
  });

  it('SUPPRESSED', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 1, 'cpus:1;mem:100');
    allocator.addFramework('A', spec(['a'], [], ['a']), new Map(), true);
    allocator.allocate(T0);
    const e = only(allocator.explain('A', 'agent0'));
    assert.equal(e.reason, 'SUPPRESSED');
    assert.equal(e.role, 'a');
  });

  it('QUOTA_LIMIT', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 2, 'cpus:1;mem:100');
    allocator.addFramework('A', spec(['a']), new Map(), true);
    allocator.updateQuota('a', {
      guarantees: new Map(),
      limits: new Map([
        ['cpus', 1],
        ['mem', 100],
      ]),
    });
    allocator.allocate(T0);
    const reasons = allocator
      .explain('A')
      .map((e) => e.reason)
      .sort();
    assert.deepEqual(reasons, ['OFFERED', 'QUOTA_LIMIT']);
  });

  it('BELOW_MIN_ALLOCATABLE', () => {
    const allocator = makeAllocator({ minAllocatable: [parseResources('cpus:1')] });
    addAgents(allocator, 1, 'cpus:0.5;mem:100');
    allocator.addFramework('A', spec(['*']), new Map(), true);
    allocator.allocate(T0);
    assert.equal(only(allocator.explain('A', 'agent0')).reason, 'BELOW_MIN_ALLOCATABLE');
  });

  it('CAPABILITY_MISSING for GPUs and for revocable-only agents', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 1, 'cpus:1;mem:100;gpus:1', 'gpu');
    allocator.addFramework('A', spec(['*']), new Map(), true);
    allocator.allocate(T0);
    const e = only(allocator.explain('A', 'gpu0'));
    assert.equal(e.reason, 'CAPABILITY_MISSING');
    assert.match(e.message, /GPU_RESOURCES/);
  });

  it('NOTHING_AVAILABLE when everything is reserved to another role', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 1, 'cpus(eng):1;mem(eng):100');
    allocator.addFramework('A', spec(['ops']), new Map(), true);
    allocator.allocate(T0);
    assert.equal(only(allocator.explain('A', 'agent0')).reason, 'NOTHING_AVAILABLE');
  });

  it('FAIR_SHARE_ORDER names who got the agent', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 1, 'cpus:1;mem:100');
    allocator.addFramework('A', spec(['*']), new Map(), true);
    allocator.addFramework('B', spec(['*']), new Map(), true);
    const [offer] = allocator.allocate(T0);
    const loser = offer?.frameworkId === 'A' ? 'B' : 'A';
    const e = only(allocator.explain(loser, 'agent0'));
    assert.equal(e.reason, 'FAIR_SHARE_ORDER');
    assert.match(e.message, new RegExp(`went to ${offer?.frameworkId}`));
  });

  it('HEADROOM, FRAMEWORK_INACTIVE and AGENT_INACTIVE', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 2, 'cpus:1;mem:100');
    allocator.updateQuota('q', {
      guarantees: new Map([
        ['cpus', 1],
        ['mem', 100],
      ]),
      limits: new Map(),
    });
    allocator.addFramework('A', spec(['a']), new Map(), true);
    allocator.allocate(T0);
    const reasons = allocator
      .explain('A')
      .map((e) => e.reason)
      .sort();
    assert.deepEqual(reasons, ['HEADROOM', 'OFFERED']);
    allocator.deactivateAgent('agent0');
    allocator.deactivateAgent('agent1');
    allocator.allocate(T0 + 1000);
    assert.equal(allocator.explain('A')[0]?.reason, 'AGENT_INACTIVE');
    allocator.deactivateFramework('A');
    assert.equal(allocator.explain('A')[0]?.reason, 'FRAMEWORK_INACTIVE');
    assert.deepEqual(allocator.explain('nobody'), []);
  });
});
