import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyCreate,
  applyDestroy,
  applyGrowVolume,
  applyReserve,
  applyShrinkVolume,
  applyUnreserve,
  validateCreate,
  validateDestroy,
  validateReserve,
  validateUnreserve,
} from '../../../src/resources/operations.js';
import type { ResourceInput } from '../../../src/resources/resource.js';
import { ResourceItem } from '../../../src/resources/resource.js';
import { Resources } from '../../../src/resources/resources.js';
import { r, strataError } from './helpers.js';

const engDynamic = { type: 'DYNAMIC' as const, role: 'eng', principal: 'alice' };

function volume(id: string, size: number, shared = false): ResourceItem {
  return ResourceItem.scalar('disk', size, {
    reservations: [engDynamic],
    disk: { persistence: { id, principal: 'alice' }, volume: { containerPath: 'data', mode: 'RW' } },
    shared,
  });
}

const reservedDisk = (size: number) => ResourceItem.scalar('disk', size, { reservations: [engDynamic] });

describe('applying offer operations', () => {
  const offered = r('cpus:4;mem:1024;disk:100').allocate('eng');

  it('RESERVE then CREATE then DESTROY then UNRESERVE returns to the start', () => {
    const toReserve = r('cpus:1;disk:50').pushReservation(engDynamic).allocate('eng');
    const reserved = applyReserve(offered, toReserve);
    assert.equal(reserved.reserved('eng').cpus(), 1);
    assert.equal(reserved.unreserved().cpus(), 3);
    assert.equal(reserved.disk(), 100, 'totals never change');

    const vol = Resources.of(volume('v1', 50)).allocate('eng');
    const created = applyCreate(reserved, vol);
    assert.equal(created.persistentVolumes().disk(), 50);
    assert.ok(!created.contains(Resources.of(reservedDisk(50)).allocate('eng')));

    const destroyed = applyDestroy(created, vol);
    assert.ok(destroyed.equals(reserved));
    assert.ok(applyUnreserve(destroyed, toReserve).equals(offered));
  });

  it('refines a reservation and pops it back', () => {
    const engReserved = r('cpus:2').pushReservation(engDynamic);
    const refinedPart = r('cpus:1')
      .pushReservation(engDynamic)
      .pushReservation({ type: 'DYNAMIC', role: 'eng/web' });
    const refined = applyReserve(engReserved, refinedPart);
    assert.equal(refined.reservedToRoleSubtree('eng').cpus(), 2);
    assert.equal(refined.reserved('eng/web').cpus(), 1);
    assert.ok(applyUnreserve(refined, refinedPart).equals(engReserved));
  });

  it('re-reserves from an explicit source', () => {
    const source = r('cpus:1').pushReservation(engDynamic);
    const target = r('cpus:1').pushReservation({ type: 'DYNAMIC', role: 'ops', principal: 'bob' });
    const moved = applyReserve(source.add(r('mem:1')), target, source);
    assert.equal(moved.reserved('ops').cpus(), 1);
    assert.throws(
      () => applyReserve(source, r('cpus:2').pushReservation(engDynamic), source),
      strataError('RESOURCES_INVALID', /same resource quantities/),
    );
  });

  it('fails with RESOURCES_INSUFFICIENT naming both sides', () => {
    assert.throws(
      () => applyReserve(r('cpus:1'), r('cpus:2').pushReservation(engDynamic)),
      strataError('RESOURCES_INSUFFICIENT', /^cpus:1 does not contain cpus:2$/),
    );
    assert.throws(
      () => applyCreate(r('disk:10'), Resources.of(volume('v1', 5))),
      strataError(
        'RESOURCES_INSUFFICIENT',
        /does not contain disk\(reservations: \[\(DYNAMIC,eng,alice\)\]\):5/,
      ),
    );
    assert.throws(
      () => applyDestroy(r('disk:10'), Resources.of(volume('v1', 5))),
      strataError('RESOURCES_INSUFFICIENT'),
    );
  });

  it('rejects malformed operations with RESOURCES_INVALID', () => {
    assert.throws(
      () => applyReserve(r('cpus:1'), r('cpus:1')),
      strataError('RESOURCES_INVALID', /Resource must be reserved/),
    );
    assert.throws(
      () => applyReserve(r('cpus:1'), r('cpus(eng):1')),
      strataError('RESOURCES_INVALID', /dynamically reserved/),
    );
    assert.throws(
      () => applyUnreserve(r('cpus(eng):1'), r('cpus(eng):1')),
      strataError('RESOURCES_INVALID', /not dynamically reserved/),
    );
    assert.throws(
      () => applyUnreserve(Resources.of(volume('v1', 5)), Resources.of(volume('v1', 5))),
      strataError('RESOURCES_INVALID', /cannot be unreserved directly/),
    );
    assert.throws(
      () => applyCreate(r('disk:1'), r('disk:1')),
      strataError('RESOURCES_INVALID', /Missing 'disk'/),
    );
  });

  it('destroys a shared volume only when no other copy remains', () => {
    const shared = volume('s1', 10, true);
    const available = Resources.of(reservedDisk(10));
    const created = applyCreate(available, Resources.of(shared));
    assert.equal(created.countOf(shared), 1);
    assert.ok(applyDestroy(created, Resources.of(shared)).equals(available));
    const twoCopies = created.add(Resources.of(shared));
    assert.throws(
      () => applyDestroy(twoCopies, Resources.of(shared)),
      strataError('RESOURCES_INSUFFICIENT', /additional shared copies/),
    );
  });

  it('grows and shrinks volumes', () => {
    const start = Resources.of(volume('v1', 10), reservedDisk(5));
    const grown = applyGrowVolume(start, volume('v1', 10), reservedDisk(5));
    assert.ok(grown.equals(Resources.of(volume('v1', 15))));
    const shrunk = applyShrinkVolume(grown, volume('v1', 15), 5);
    assert.ok(shrunk.equals(start));
    assert.throws(() => applyShrinkVolume(grown, volume('v1', 15), 15), strataError('RESOURCES_INVALID'));
  });
});

describe('validating offer operations', () => {
  const reserveInput = (extra: Partial<ResourceInput> = {}): ResourceInput => ({
    name: 'cpus',
    type: 'SCALAR',
    scalar: 1,
    reservations: [engDynamic],
    ...extra,
  });

  it('RESERVE', () => {
    assert.equal(validateReserve([reserveInput()], { principal: 'alice', allocationRole: 'eng' }), undefined);
    assert.equal(
      validateReserve(
        [reserveInput({ reservations: [{ type: 'DYNAMIC', role: 'eng/web', principal: 'alice' }] })],
        {
          allocationRole: 'eng',
        },
      ),
      undefined,
      'a sub-role of the offer role',
    );
    assert.equal(
      validateReserve([reserveInput({ reservations: [{ type: 'STATIC', role: 'eng' }] })]),
      'Resource cpus(reservations: [(STATIC,eng)]):1 is not dynamically reserved',
    );
    assert.equal(
      validateReserve([reserveInput()], { principal: 'mallory' }),
      "A reserve operation was attempted by authenticated principal 'mallory', which does not match a reserved resource in the request with principal 'alice'",
    );
    assert.equal(
      validateReserve([reserveInput()], { allocationRole: 'ops' }),
      "A reserve operation was attempted for a resource with role 'eng', but the offer is allocated to role 'ops'",
    );
    assert.equal(
      validateReserve([
        reserveInput({ role: '*', reservations: undefined, reservation: { principal: 'alice' } }),
      ]),
      'Invalid resources: Resource \'cpus:1\' is invalid: Invalid reservation: role "*" cannot be dynamically reserved',
    );
  });

  it('UNRESERVE', () => {
    assert.equal(validateUnreserve([reserveInput()]), undefined);
    assert.equal(
      validateUnreserve([{ name: 'cpus', type: 'SCALAR', scalar: 1 }]),
      'Resource cpus:1 is not dynamically reserved',
    );
  });

  it('CREATE and DESTROY', () => {
    const volumeInput = (id: string, principal = 'alice'): ResourceInput => ({
      name: 'disk',
      type: 'SCALAR',
      scalar: 10,
      reservations: [engDynamic],
      disk: { persistence: { id, principal }, volume: { containerPath: 'data', mode: 'RW' } },
    });
    assert.equal(validateCreate([volumeInput('v1')], { principal: 'alice' }), undefined);
    assert.equal(
      validateCreate([volumeInput('v1', 'bob')], { principal: 'alice' }),
      "Create volume operation has been attempted by principal 'alice', but there is a volume in the operation with principal 'bob' set in 'DiskInfo.Persistence'",
    );
    assert.equal(
      validateCreate([volumeInput('v1')], { checkpointed: Resources.of(volume('v1', 3)) }),
      "Persistence ID 'v1' is not unique",
    );
    assert.equal(
      validateCreate([{ name: 'disk', type: 'SCALAR', scalar: 1, reservations: [engDynamic] }]),
      'Not a persistent volume: Resource disk(reservations: [(DYNAMIC,eng,alice)]):1 does not have DiskInfo',
    );
    assert.match(
      validateCreate([{ ...volumeInput('s1'), shared: true }], { sharedAllowed: false }) ?? '',
      /no SHARED_RESOURCES capability/,
    );
    const checkpointed = Resources.of(volume('v1', 10));
    assert.equal(validateDestroy([volumeInput('v1')], { checkpointed }), undefined);
    assert.equal(validateDestroy([volumeInput('v2')], { checkpointed }), 'Persistent volumes not found');
    assert.equal(
      validateDestroy([volumeInput('v1')], {
        checkpointed,
        used: [Resources.of(volume('v1', 10)).allocate('eng')],
      }),
      'Persistent volumes in use',
    );
  });
});
