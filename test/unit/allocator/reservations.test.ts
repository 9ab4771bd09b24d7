import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseResources } from '../../../src/resources/flags.js';
import { ResourceItem } from '../../../src/resources/resource.js';
import { Resources } from '../../../src/resources/resources.js';
import {
  addAgents,
  dynamicallyReserved,
  makeAllocator,
  reserved,
  resources,
  spec,
  T0,
  total,
} from './helpers.js';

describe('reservations', () => {
  it('static reservations go only to their role', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 1, 'cpus:1;mem:100;cpus(eng):4;mem(eng):400');
    allocator.addFramework('ops', spec(['ops']), new Map(), true);
    const [opsOffer] = allocator.allocate(T0);
    assert.equal(opsOffer?.resources.cpus(), 1);
    assert.ok(opsOffer?.resources.reserved().isEmpty());
    allocator.addFramework('eng', spec(['eng']), new Map(), true);
    const [engOffer] = allocator.allocate(T0 + 1000);
    assert.equal(engOffer?.frameworkId, 'eng');
    assert.equal(engOffer?.resources.reserved('eng').cpus(), 4);
  });

  it('dynamic reservations go only to their role, labels and principal kept', () => {
    const allocator = makeAllocator();
    const total = resources(dynamicallyReserved('cpus', 2, ['eng']), ResourceItem.scalar('mem', 100));
    addAgents(allocator, 1, total);
    allocator.addFramework('eng', spec(['eng']), new Map(), true);
    const [offer] = allocator.allocate(T0);
    const cpus = offer?.resources.items().find((r) => r.name === 'cpus');
    assert.equal(cpus?.reservations[0]?.principal, 'ops');
    assert.equal(cpus?.allocationRole, 'eng');
  });

  it('a reservation to a parent role is offered to its subroles (refinement)', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 1, 'cpus(eng):4;mem(eng):400');
    allocator.addFramework('web', spec(['eng/web']), new Map(), true);
    const [offer] = allocator.allocate(T0);
    assert.equal(offer?.role, 'eng/web');
    assert.equal(offer?.resources.reserved('eng').cpus(), 4);
  });

  it('a reservation refined to a subrole is not offered to the parent nor to siblings', () => {
    const allocator = makeAllocator();
    addAgents(
      allocator,
      1,
      resources(reserved('cpus', 4, ['eng', 'eng/web']), reserved('mem', 400, ['eng', 'eng/web'])),
    );
    allocator.addFramework('eng', spec(['eng'], ['RESERVATION_REFINEMENT']), new Map(), true);
    allocator.addFramework('db', spec(['eng/db'], ['RESERVATION_REFINEMENT']), new Map(), true);
    assert.equal(allocator.allocate(T0).length, 0);
    allocator.addFramework('web', spec(['eng/web'], ['RESERVATION_REFINEMENT']), new Map(), true);
    const [offer] = allocator.allocate(T0 + 1000);
    assert.equal(offer?.frameworkId, 'web');
  });

  it('refined reservations need RESERVATION_REFINEMENT', () => {
    const allocator = makeAllocator();
    addAgents(
      allocator,
      1,
      resources(
        reserved('cpus', 4, ['eng', 'eng/web']),
        ResourceItem.scalar('cpus', 1),
        ResourceItem.scalar('mem', 100),
      ),
    );
    allocator.addFramework('old', spec(['eng/web']), new Map(), true);
    const [offer] = allocator.allocate(T0);
    assert.equal(offer?.resources.cpus(), 1, 'only the unreserved part');
    allocator.removeFramework('old');
    allocator.addFramework('new', spec(['eng/web'], ['RESERVATION_REFINEMENT']), new Map(), true);
    assert.equal(allocator.allocate(T0 + 1000)[0]?.resources.cpus(), 5);
  });

  it('unallocated reservations count in the role share', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 1, 'cpus(eng):5;mem(eng):500');
    addAgents(allocator, 5, 'cpus:1;mem:100', 'free');
    allocator.addFramework('eng', spec(['eng']), new Map(), true);
    allocator.addFramework('ops', spec(['ops']), new Map(), true);
    const roles = new Map(allocator.roles().map((r) => [r.role, r]));
    assert.equal(roles.get('eng')?.share, 0.5);
    const allocations = allocator.allocate(T0);
    // eng starts at half the cluster, so ops gets the unreserved agents.
    assert.equal(total(allocations, 'cpus', 'ops'), 5);
    assert.equal(total(allocations, 'cpus', 'eng'), 5);
  });

  it('RESERVE on offered resources (updateAllocation) turns them into a reservation', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 1, 'cpus:4;mem:400');
    allocator.addFramework('eng', spec(['eng']), new Map(), true);
    allocator.addFramework('ops', spec(['ops']), new Map(), true);
    const [offer] = allocator.allocate(T0);
    assert.ok(offer);
    const consumed = parseResources('cpus:2').allocate(offer.role);
    const converted = consumed
      .unallocate()
      .pushReservation({ type: 'DYNAMIC', role: offer.role, principal: 'p' });
    assert.ok(allocator.updateAllocation(offer.frameworkId, offer.agentId, consumed, converted));
    assert.equal(
      allocator.updateAllocation(
        offer.frameworkId,
        offer.agentId,
        parseResources('cpus:9').allocate(offer.role),
        converted,
      ),
      false,
    );
    // Everything comes back; the reserved part only goes to the reserving role.
    const held = offer.resources.subtract(consumed).add(converted.allocate(offer.role));
    allocator.recoverResources(offer.frameworkId, offer.agentId, held, 0, T0);
    allocator.removeFramework(offer.frameworkId);
    const other = offer.frameworkId === 'eng' ? 'ops' : 'eng';
    const [next] = allocator.allocate(T0 + 1000);
    assert.equal(next?.frameworkId, other);
    assert.equal(next?.resources.cpus(), 2);
  });

  it('operator RESERVE_RESOURCES on unallocated resources (updateAvailable)', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 1, 'cpus:4;mem:400');
    const consumed = parseResources('cpus:3;mem:300');
    const converted = consumed.pushReservation({ type: 'DYNAMIC', role: 'eng', principal: 'op' });
    assert.ok(allocator.updateAvailable('agent0', consumed, converted));
    assert.equal(
      allocator.updateAvailable('agent0', parseResources('cpus:5'), parseResources('cpus:5')),
      false,
    );
    allocator.addFramework('ops', spec(['ops']), new Map(), true);
    const [offer] = allocator.allocate(T0);
    assert.equal(offer?.resources.cpus(), 1);
    assert.equal(new Map(allocator.roles().map((r) => [r.role, r])).get('eng')?.consumed.get('cpus'), 3);
  });
});

describe('persistent volumes', () => {
  it('CREATE on reserved disk: the volume comes back to its role only, intact', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 1, 'cpus:1;mem:100;disk:1000');
    const plainDisk = parseResources('disk:500');
    const reservedDisk = plainDisk.pushReservation({ type: 'DYNAMIC', role: 'db', principal: 'p' });
    assert.ok(allocator.updateAvailable('agent0', plainDisk, reservedDisk));
    allocator.addFramework('db', spec(['db']), new Map(), true);
    const [offer] = allocator.allocate(T0);
    assert.ok(offer);
    assert.equal(offer.resources.reserved('db').disk(), 500);
    const consumed = reservedDisk.allocate('db');
    const volume = Resources.from(
      reservedDisk.items().map((item) =>
        item.withMeta({
          disk: { persistence: { id: 'pg' }, volume: { containerPath: 'data', mode: 'RW' } },
        }),
      ),
    );
    assert.ok(allocator.updateAllocation('db', 'agent0', consumed, volume));
    const held = offer.resources.subtract(consumed).add(volume.allocate('db'));
    allocator.recoverResources('db', 'agent0', held, 0, T0);
    allocator.removeFramework('db');
    allocator.addFramework('web', spec(['web']), new Map(), true);
    const [forWeb] = allocator.allocate(T0 + 1000);
    assert.ok(forWeb?.resources.persistentVolumes().isEmpty(), 'not offered to another role');
    assert.equal(forWeb?.resources.disk(), 500);
    allocator.addFramework('db2', spec(['db']), new Map(), true);
    allocator.recoverResources('web', 'agent0', forWeb!.resources, 0, T0 + 1000);
    allocator.removeFramework('web');
    const [back] = allocator.allocate(T0 + 2000);
    const pv = back?.resources.persistentVolumes().items()[0];
    assert.equal(pv?.disk?.persistence?.id, 'pg');
    assert.equal(pv?.scalar, 500);
  });
});

describe('capabilities', () => {
  it('GPU agents only go to GPU_RESOURCES frameworks', () => {
    const allocator = makeAllocator();
    addAgents(allocator, 1, 'cpus:4;mem:400;gpus:1', 'gpu');
    addAgents(allocator, 1, 'cpus:4;mem:400', 'plain');
    allocator.addFramework('legacy', spec(['*']), new Map(), true);
    const allocations = allocator.allocate(T0);
    assert.deepEqual(
      allocations.map((a) => a.agentId),
      ['plain0'],
    );
    allocator.addFramework('ml', spec(['*'], ['GPU_RESOURCES']), new Map(), true);
    const [gpu] = allocator.allocate(T0 + 1000);
    assert.equal(gpu?.frameworkId, 'ml');
    assert.equal(gpu?.resources.gpus(), 1);
  });

  it('--filter_gpu_resources=false offers GPU agents to everyone', () => {
    const allocator = makeAllocator({ filterGpuResources: false });
    addAgents(allocator, 1, 'cpus:4;mem:400;gpus:1');
    allocator.addFramework('legacy', spec(['*']), new Map(), true);
    assert.equal(allocator.allocate(T0).length, 1);
  });

  it('revocable resources only go to REVOCABLE_RESOURCES frameworks', () => {
    const allocator = makeAllocator();
    const total = resources(
      ResourceItem.scalar('cpus', 2),
      ResourceItem.scalar('cpus', 6, { revocable: true }),
      ResourceItem.scalar('mem', 100),
    );
    addAgents(allocator, 1, total);
    allocator.addFramework('firm', spec(['*']), new Map(), true);
    const [offer] = allocator.allocate(T0);
    assert.equal(offer?.resources.cpus(), 2);
    assert.ok(offer?.resources.revocable().isEmpty());
    allocator.addFramework('best-effort', spec(['*'], ['REVOCABLE_RESOURCES']), new Map(), true);
    const [rest] = allocator.allocate(T0 + 1000);
    assert.equal(rest?.frameworkId, 'best-effort');
    assert.equal(rest?.resources.revocable().cpus(), 6);
  });

  it('shared volumes only go to SHARED_RESOURCES frameworks, even while in use', () => {
    const allocator = makeAllocator();
    const volume = ResourceItem.scalar('disk', 100, {
      reservations: [{ type: 'DYNAMIC', role: 'db', principal: 'p' }],
      disk: { persistence: { id: 'v1' }, volume: { containerPath: 'data', mode: 'RW' } },
      shared: true,
    });
    addAgents(
      allocator,
      1,
      resources(volume, ResourceItem.scalar('cpus', 4), ResourceItem.scalar('mem', 400)),
    );
    allocator.addFramework('plain', spec(['db']), new Map(), true);
    const [first] = allocator.allocate(T0);
    assert.ok(first?.resources.shared().isEmpty());
    allocator.addFramework('sharer', spec(['db'], ['SHARED_RESOURCES']), new Map(), true);
    const [second] = allocator.allocate(T0 + 1000);
    assert.equal(second?.frameworkId, 'sharer');
    assert.equal(second?.resources.shared().disk(), 100);
    allocator.addFramework('sharer2', spec(['db'], ['SHARED_RESOURCES']), new Map(), true);
    // The volume is in use by `sharer`, and is still offered (once per cycle) to another.
    const third = allocator.allocate(T0 + 2000);
    assert.equal(third.length, 1);
    assert.equal(third[0]?.resources.shared().disk(), 100);
  });
});
