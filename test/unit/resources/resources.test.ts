import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DiskInfo, Label, Reservation } from '../../../src/resources/resource.js';
import { ResourceItem } from '../../../src/resources/resource.js';
import { Resources } from '../../../src/resources/resources.js';
import { shrinkToQuantities } from '../../../src/resources/shrink.js';
import { r, strataError } from './helpers.js';

const dynamic = (role: string, principal?: string, labels?: Label[]): Reservation => ({
  type: 'DYNAMIC',
  role,
  ...(principal === undefined ? {} : { principal }),
  ...(labels === undefined ? {} : { labels }),
});
const staticReservation = (role: string): Reservation => ({ type: 'STATIC', role });

function volume(
  id: string,
  size: number,
  options: { shared?: boolean; containerPath?: string; role?: string; source?: DiskInfo['source'] } = {},
): ResourceItem {
  return ResourceItem.scalar('disk', size, {
    reservations: [dynamic(options.role ?? 'eng', 'ops')],
    disk: {
      persistence: { id, principal: 'ops' },
      volume: { containerPath: options.containerPath ?? 'data', mode: 'RW' },
      ...(options.source === undefined ? {} : { source: options.source }),
    },
    shared: options.shared ?? false,
  });
}

function mountDisk(root: string, size: number): ResourceItem {
  return ResourceItem.scalar('disk', size, { disk: { source: { type: 'MOUNT', mount: { root } } } });
}

describe('Resources arithmetic', () => {
  it('merges resources with the same name and metadata when adding', () => {
    const sum = r('cpus:1;mem:512').add(r('cpus:2;mem:512'));
    assert.equal(sum.size, 2);
    assert.equal(sum.cpus(), 3);
    assert.equal(sum.mem(), 1024);
    assert.equal(sum.toString(), 'cpus:3; mem:1024');
    const tenths = Resources.sum([r('cpus:0.1'), r('cpus:0.1'), r('cpus:0.1')]);
    assert.equal(tenths.cpus(), 0.3);
    assert.ok(tenths.equals(r('cpus:0.3')));
  });

  it('keeps differently reserved resources apart', () => {
    const total = r('cpus:4;cpus(eng):4;mem:1024');
    assert.equal(total.size, 3);
    assert.equal(total.cpus(), 8, 'scalar totals sum over every reservation');
    assert.deepEqual(
      [...total.scalarTotals()],
      [
        ['cpus', 8],
        ['mem', 1024],
      ],
    );
  });

  it('contains respects reservations', () => {
    const total = r('cpus:4;cpus(eng):4;mem:1024');
    assert.ok(total.contains(r('cpus:4')));
    assert.ok(!total.contains(r('cpus:5')), 'reserved cpus do not count for an unreserved request');
    assert.ok(total.contains(r('cpus(eng):2;cpus:1')));
    assert.ok(!total.contains(r('cpus(ops):1')));
    assert.ok(!total.contains(r('cpus(eng):5')));
    assert.ok(total.contains(Resources.EMPTY));
    assert.ok(!Resources.EMPTY.contains(r('cpus:1')));
  });

  it('subtracting disjoint roles changes nothing; over-subtraction empties', () => {
    const eng = r('cpus(a):2');
    assert.ok(eng.subtract(r('cpus(b):1')).equals(eng));
    assert.ok(r('cpus:1;mem:10').subtract(r('cpus:2')).equals(r('mem:10')));
    assert.ok(r('cpus:1').subtract(r('cpus:1')).isEmpty());
    assert.equal(r('cpus:3').subtract(r('cpus:0.001')).cpus(), 2.999);
  });

  it('subtracts ranges and sets', () => {
    const agent = r('ports:[31000-32000];disks:{sda,sdb}');
    const left = agent.subtract(r('ports:[31000-31000,31500-31600];disks:{sdb}'));
    assert.equal(left.ports()?.toString(), '[31001-31499, 31601-32000]');
    assert.deepEqual(left.set('disks')?.items(), ['sda']);
    assert.ok(agent.contains(r('ports:[31010-31020]')));
    assert.ok(!agent.contains(r('ports:[30000-31000]')));
    assert.ok(!left.contains(r('disks:{sdb}')));
  });

  it('compares equal regardless of order', () => {
    assert.ok(r('cpus:1;mem:2;ports:[1-2]').equals(r('ports:[1-2];mem:2;cpus:1')));
    assert.ok(!r('cpus:1').equals(r('cpus:1;mem:1')));
    assert.ok(!r('cpus:1').equals(r('cpus:2')));
  });

  it('drops empty resources', () => {
    assert.ok(r('cpus:0;mem:1').equals(r('mem:1')));
    assert.ok(Resources.of(ResourceItem.ranges('ports', [])).isEmpty());
    assert.ok(Resources.of(ResourceItem.scalar('cpus', 0.0001)).isEmpty(), 'below 0.001 is zero');
  });

  it('treats reservation labels as a multiset', () => {
    const one = ResourceItem.scalar('cpus', 1, {
      reservations: [dynamic('eng', 'p', [{ key: 'a', value: '1' }, { key: 'b' }])],
    });
    const same = ResourceItem.scalar('cpus', 2, {
      reservations: [dynamic('eng', 'p', [{ key: 'b' }, { key: 'a', value: '1' }])],
    });
    const other = ResourceItem.scalar('cpus', 1, {
      reservations: [dynamic('eng', 'p', [{ key: 'a', value: '2' }])],
    });
    const merged = Resources.of(one, same, other);
    assert.equal(merged.size, 2);
    assert.equal(merged.items()[0]!.scalar, 3);
  });

  it('keeps revocable and allocated resources apart', () => {
    const revocable = ResourceItem.scalar('cpus', 2, { revocable: true });
    const both = r('cpus:1').add(revocable);
    assert.equal(both.size, 2);
    assert.equal(both.revocable().cpus(), 2);
    assert.equal(both.nonRevocable().cpus(), 1);
    assert.equal(both.toString(), 'cpus:1; cpus{REV}:2');

    const allocated = r('cpus:1;mem:10').allocate('eng');
    assert.equal(allocated.items()[0]!.allocationRole, 'eng');
    assert.ok(!allocated.contains(r('cpus:1')), 'allocation info is part of the identity');
    assert.ok(allocated.unallocate().equals(r('cpus:1;mem:10')));
    const mixed = allocated.add(r('cpus:2').allocate('ops'));
    assert.deepEqual([...mixed.allocations().keys()], ['eng', 'ops']);
    assert.equal(mixed.allocatedTo('ops').cpus(), 2);
    assert.equal(mixed.allocatedToRoleSubtree('eng').cpus(), 1);
    assert.equal(mixed.toString(), 'cpus(allocated: eng):1; mem(allocated: eng):10; cpus(allocated: ops):2');
  });
});

describe('Resources filters', () => {
  const total = r('cpus:1;cpus(eng):2;cpus(eng/web):4;cpus(ops):8;mem(eng):16');

  it('selects by reservation role, exactly or by subtree', () => {
    assert.equal(total.reserved().cpus(), 14);
    assert.equal(total.reserved('eng').cpus(), 2);
    assert.equal(total.unreserved().cpus(), 1);
    assert.equal(total.reservedToRoleSubtree('eng').cpus(), 6);
    assert.equal(total.staticallyReserved().size, 4);
    assert.equal(total.dynamicallyReserved().size, 0);
    assert.deepEqual([...total.reservations().keys()], ['eng', 'eng/web', 'ops']);
    assert.equal(total.reservations().get('eng')?.mem(), 16);
  });

  it('allocatableTo includes unreserved and ancestor reservations only', () => {
    assert.equal(total.allocatableTo('eng/web').cpus(), 7);
    assert.equal(total.allocatableTo('eng').cpus(), 3, 'a child reservation is not offered to the parent');
    assert.equal(total.allocatableTo('ops').cpus(), 9);
    assert.equal(total.allocatableTo('other').cpus(), 1);
    assert.equal(total.allocatableTo('engineering').cpus(), 1);
  });

  it('filters by name, type and provider', () => {
    const mixed = r('cpus:1;ports:[1-2];disks:{a}');
    assert.deepEqual(mixed.names(), ['cpus', 'ports', 'disks']);
    assert.equal(mixed.scalars().size, 1);
    assert.equal(mixed.nonScalars().size, 2);
    assert.equal(mixed.named('ports').size, 1);
    assert.equal(mixed.types().get('disks'), 'SET');
    const provided = mixed.add(ResourceItem.scalar('disk', 5, { providerId: 'rp1' }));
    assert.equal(provided.fromProvider().disk(), 5);
    assert.equal(provided.fromProvider('rp2').size, 0);
    assert.equal(mixed.scalar('mem'), undefined);
    assert.equal(mixed.scalarMilli('cpus'), 1000);
  });
});

describe('reservation stack (refinement)', () => {
  it('pushes and pops reservations', () => {
    const unreserved = r('cpus:4;mem:64');
    const eng = unreserved.pushReservation(dynamic('eng', 'alice'));
    assert.equal(eng.items()[0]!.reservationRole, 'eng');
    assert.ok(eng.items()[0]!.isDynamicallyReserved);
    const web = eng.pushReservation(dynamic('eng/web', 'bob'));
    assert.ok(web.items()[0]!.hasRefinedReservations);
    assert.equal(web.items()[0]!.reservationRole, 'eng/web');
    assert.equal(
      web.items()[0]!.toString(),
      'cpus(reservations: [(DYNAMIC,eng,alice),(DYNAMIC,eng/web,bob)]):4',
    );
    assert.ok(web.popReservation().equals(eng));
    assert.ok(web.popReservation().popReservation().equals(unreserved));
    assert.ok(web.toUnreserved().equals(unreserved));
  });

  it('refuses invalid pushes and pops', () => {
    const eng = r('cpus(eng):1');
    assert.throws(
      () => eng.pushReservation(dynamic('ops')),
      strataError('RESOURCES_INVALID', /not a refinement of 'eng'/),
    );
    assert.throws(
      () => eng.pushReservation(staticReservation('eng/web')),
      strataError('RESOURCES_INVALID', /cannot be STATIC/),
    );
    assert.throws(
      () => r('cpus:1').pushReservation(dynamic('*')),
      strataError('RESOURCES_INVALID', /cannot be reserved/),
    );
    assert.throws(() => r('cpus:1').popReservation(), strataError('RESOURCES_INVALID', /unreserved/));
  });

  it('toUnreserved merges, flatten strips everything', () => {
    const reserved = r('cpus(eng):2;cpus:1').add(r('cpus:1').allocate('eng'));
    assert.equal(reserved.toUnreserved().size, 2, 'allocation info stays after toUnreserved');
    assert.ok(reserved.flatten().equals(r('cpus:4')));
    assert.ok(Resources.of(volume('v1', 10), mountDisk('/mnt/a', 5)).flatten().equals(r('disk:15')));
    assert.ok(r('cpus:1;ports:[1-2]').toScalarQuantities().equals(r('cpus:1')));
  });
});

describe('disks, volumes and shared resources', () => {
  it('never merges persistent volumes; subtracts and contains only equal ones', () => {
    const two = Resources.of(volume('v1', 10), volume('v1', 10));
    assert.equal(two.size, 2);
    assert.equal(two.subtract(Resources.of(volume('v1', 10))).size, 1);
    assert.ok(two.contains(Resources.of(volume('v1', 10), volume('v1', 10))));
    const one = Resources.of(volume('v1', 10));
    assert.ok(!one.contains(Resources.of(volume('v1', 10), volume('v1', 10))), 'two copies need two volumes');
    assert.ok(!one.contains(Resources.of(volume('v1', 5))), 'a volume is not divisible');
    assert.ok(!one.contains(Resources.of(volume('v2', 10))));
  });

  it('ignores the volume mapping and the persistence principal in comparisons', () => {
    const mounted = Resources.of(volume('v1', 10, { containerPath: 'a' }));
    assert.ok(mounted.contains(Resources.of(volume('v1', 10, { containerPath: 'b' }))));
    assert.ok(mounted.subtract(Resources.of(volume('v1', 10, { containerPath: 'b' }))).isEmpty());
  });

  it('keeps MOUNT disks whole, merges PATH disks', () => {
    const mounts = Resources.of(mountDisk('/mnt/a', 100), mountDisk('/mnt/a', 100));
    assert.equal(mounts.size, 2);
    assert.ok(!Resources.of(mountDisk('/mnt/a', 100)).contains(Resources.of(mountDisk('/mnt/a', 50))));
    const path = (size: number) =>
      ResourceItem.scalar('disk', size, { disk: { source: { type: 'PATH', path: { root: '/p' } } } });
    const paths = Resources.of(path(100), path(50));
    assert.equal(paths.size, 1);
    assert.equal(paths.disk(), 150);
    assert.ok(paths.contains(Resources.of(path(20))));
    assert.equal(paths.items()[0]!.toString(), 'disk[PATH:/p]:150');
    assert.equal(mounts.items()[0]!.toString(), 'disk[MOUNT:/mnt/a]:100');
  });

  it('counts shared volumes instead of summing them', () => {
    const shared = volume('s1', 10, { shared: true });
    const twice = Resources.of(shared, shared);
    assert.equal(twice.size, 1);
    assert.equal(twice.countOf(shared), 2);
    assert.equal(twice.disk(), 10, 'capacity counts once');
    assert.ok(twice.contains(Resources.of(shared)));
    assert.ok(twice.contains(Resources.of(shared, shared)));
    assert.ok(!twice.contains(Resources.of(shared, shared, shared)));
    const once = twice.subtract(Resources.of(shared));
    assert.equal(once.countOf(shared), 1);
    assert.ok(once.subtract(Resources.of(shared)).isEmpty());
    assert.ok(!Resources.of(volume('s1', 10)).contains(Resources.of(shared)), 'shared and non-shared differ');
    assert.equal(shared.toString(), 'disk(reservations: [(DYNAMIC,eng,ops)])[s1:data:rw]<SHARED>:10');
    assert.equal(twice.shared().size, 1);
    assert.equal(twice.nonShared().size, 0);
    assert.equal(twice.persistentVolumes().size, 1);
    assert.ok(twice.equals(Resources.of(shared, shared)));
    assert.ok(!twice.equals(Resources.of(shared)));
  });
});

describe('Resources text and helpers', () => {
  it("prints Mesos' text", () => {
    assert.equal(Resources.EMPTY.toString(), '{}');
    assert.equal(
      r('cpus(eng):4;ports:[31000-32000,33000-34000];disks:{sda,sdb}').toString(),
      'cpus(reservations: [(STATIC,eng)]):4; ports:[31000-32000, 33000-34000]; disks:{sda, sdb}',
    );
    const labeled = ResourceItem.scalar('mem', 8, {
      reservations: [dynamic('eng', 'p', [{ key: 'k', value: 'v' }, { key: 'x' }])],
    });
    assert.equal(labeled.toString(), 'mem(reservations: [(DYNAMIC,eng,p,{k: v, x})]):8');
  });

  it('shrinks to target quantities, keeping unsplittable resources whole or out', () => {
    const agent = Resources.of(
      ResourceItem.scalar('cpus', 8),
      ResourceItem.scalar('mem', 4096),
      mountDisk('/mnt/a', 100),
      ResourceItem.ranges('ports', [[1, 10]]),
    );
    const cut = shrinkToQuantities(
      agent,
      new Map([
        ['cpus', 2500],
        ['mem', 1_024_000],
        ['disk', 50_000],
      ]),
    );
    assert.equal(cut.cpus(), 2.5);
    assert.equal(cut.mem(), 1024);
    assert.equal(cut.disk(), undefined, 'a 100 MB MOUNT disk does not fit into 50');
    assert.equal(cut.ports(), undefined);
    const whole = shrinkToQuantities(agent, new Map([['disk', 200_000]]));
    assert.equal(whole.disk(), 100);
  });

  it('keeps the same answers past the index threshold', () => {
    let big = Resources.EMPTY;
    for (let i = 0; i < 40; i++) big = big.add(r(`cpus(role${i}):1;mem(role${i}):${i + 1}`));
    assert.equal(big.size, 80);
    assert.ok(big.contains(r('cpus(role39):1;mem(role0):1')));
    assert.ok(!big.contains(r('mem(role0):2')));
    const less = big.subtract(r('cpus(role5):1;mem(role7):3'));
    assert.equal(less.size, 79);
    assert.equal(less.reserved('role7').mem(), 5);
    assert.ok(less.add(r('cpus(role5):1;mem(role7):3')).equals(big));
    assert.equal(big.add(r('cpus(role20):1')).reserved('role20').cpus(), 2);
  });

  it('is immutable: operations return new values and keep the inputs', () => {
    const base = r('cpus:2;mem:10');
    const before = base.toString();
    base.add(r('cpus:1'));
    base.subtract(r('mem:5'));
    base.allocate('eng');
    base.pushReservation(dynamic('eng'));
    assert.equal(base.toString(), before);
    assert.equal(base.subtract(Resources.EMPTY), base);
    assert.equal(base.add(Resources.EMPTY), base);
  });
});
