import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ResourceInput } from '../../../src/resources/resource.js';
import { Resources } from '../../../src/resources/resources.js';
import {
  assertValidResources,
  validateDiskInfo,
  validateGpus,
  validateResource,
  validateResources,
  validateResourcesForMaster,
  validateRevocableMix,
  validateUniquePersistenceIds,
} from '../../../src/resources/validate.js';
import { strataError } from './helpers.js';

const cpus = (extra: Partial<ResourceInput> = {}): ResourceInput => ({
  name: 'cpus',
  type: 'SCALAR',
  scalar: 1,
  ...extra,
});
const volumeInput = (extra: Partial<ResourceInput> = {}): ResourceInput => ({
  name: 'disk',
  type: 'SCALAR',
  scalar: 10,
  reservations: [{ type: 'DYNAMIC', role: 'eng', principal: 'p' }],
  disk: { persistence: { id: 'v1', principal: 'p' }, volume: { containerPath: 'data', mode: 'RW' } },
  ...extra,
});

describe('validateResource (Mesos Resources::validate)', () => {
  it('accepts valid resources in every format', () => {
    assert.equal(validateResource(cpus()), undefined);
    assert.equal(validateResource(cpus({ role: '*' })), undefined);
    assert.equal(validateResource(cpus({ role: 'eng' })), undefined);
    assert.equal(validateResource(cpus({ role: 'eng', reservation: { principal: 'p' } })), undefined);
    assert.equal(validateResource(cpus({ reservations: [{ type: 'STATIC', role: 'eng' }] })), undefined);
    assert.equal(
      validateResource(
        cpus({
          role: 'eng',
          reservation: { principal: 'p' },
          reservations: [{ type: 'DYNAMIC', role: 'eng', principal: 'p' }],
        }),
      ),
      undefined,
      'endpoint format',
    );
    assert.equal(
      validateResource({
        name: 'ports',
        type: 'RANGES',
        ranges: [
          { begin: 1, end: 2 },
          { begin: 3, end: 4 },
        ],
      }),
      undefined,
    );
    assert.equal(validateResource(volumeInput({ shared: true })), undefined);
  });

  it('checks names, types and values', () => {
    assert.equal(validateResource(cpus({ name: '' })), 'Empty resource name');
    assert.equal(validateResource(cpus({ scalar: -1 })), 'Invalid scalar resource: value < 0');
    assert.equal(validateResource(cpus({ scalar: Number.NaN })), 'Invalid scalar resource: value is NaN');
    assert.equal(
      validateResource(cpus({ scalar: Number.POSITIVE_INFINITY })),
      'Invalid scalar resource: value is infinite',
    );
    assert.equal(validateResource({ name: 'cpus', type: 'SCALAR' }), 'Invalid scalar resource');
    assert.equal(validateResource(cpus({ set: ['a'] })), 'Invalid scalar resource', 'type mismatch');
    assert.equal(validateResource({ name: 'ports', type: 'RANGES', scalar: 1 }), 'Invalid ranges resource');
    assert.equal(
      validateResource({ name: 'ports', type: 'RANGES', ranges: [{ begin: 5, end: 1 }] }),
      'Invalid ranges resource: begin > end',
    );
    assert.equal(
      validateResource({
        name: 'ports',
        type: 'RANGES',
        ranges: [
          { begin: 1, end: 5 },
          { begin: 5, end: 9 },
        ],
      }),
      'Invalid ranges resource: overlapping ranges',
    );
    assert.equal(
      validateResource({
        name: 'ports',
        type: 'RANGES',
        ranges: [
          { begin: 10, end: 20 },
          { begin: 1, end: 12 },
        ],
      }),
      'Invalid ranges resource: overlapping ranges',
    );
    assert.equal(
      validateResource({ name: 'disks', type: 'SET', set: ['a', 'a'] }),
      'Invalid set resource: duplicated elements',
    );
    assert.equal(validateResource({ name: 'disks', type: 'SET' }), 'Invalid set resource');
    assert.equal(validateResource({ name: 'os', type: 'TEXT' }), 'Unsupported resource type');
    assert.equal(
      validateResource(cpus({ disk: { source: { type: 'PATH' } } })),
      'DiskInfo should not be set for cpus resource',
    );
  });

  it('checks role and reservation consistency', () => {
    assert.equal(
      validateResource(cpus({ role: '-x' })),
      "Role component '-x' is invalid because it starts with a dash",
    );
    assert.equal(
      validateResource(cpus({ role: '*', reservation: { principal: 'p' } })),
      'Invalid reservation: role "*" cannot be dynamically reserved',
    );
    assert.equal(
      validateResource(cpus({ role: 'eng', reservation: { role: 'eng' } })),
      "'Resource.ReservationInfo.role' must not be set for the 'Resource.reservation' field",
    );
    assert.equal(
      validateResource(cpus({ role: 'eng', reservation: { type: 'DYNAMIC' } })),
      "'Resource.ReservationInfo.type' must not be set for the 'Resource.reservation' field",
    );
    assert.equal(
      validateResource(cpus({ reservations: [{ role: 'eng' }] })),
      "Invalid reservation: 'type' must be set",
    );
    assert.equal(
      validateResource(cpus({ reservations: [{ type: 'STATIC' }] })),
      "Invalid reservation: 'role' must be set",
    );
    assert.equal(
      validateResource(cpus({ reservations: [{ type: 'STATIC', role: '*' }] })),
      'Invalid reservation: role "*" cannot be reserved',
    );
    assert.equal(
      validateResource(
        cpus({
          reservations: [
            { type: 'DYNAMIC', role: 'eng' },
            { type: 'DYNAMIC', role: 'ops' },
          ],
        }),
      ),
      "Invalid refined reservation: role 'ops' is not a refinement of 'eng'",
    );
    assert.equal(
      validateResource(
        cpus({
          reservations: [
            { type: 'STATIC', role: 'eng' },
            { type: 'STATIC', role: 'eng/a' },
          ],
        }),
      ),
      'Invalid refined reservation: A refined reservation cannot be STATIC',
    );
    assert.equal(
      validateResource(cpus({ role: 'ops', reservations: [{ type: 'STATIC', role: 'eng' }] })),
      "Invalid resource format: 'Resource.role' field with 'ops' does not match the role 'eng' in 'Resource.reservations'",
    );
    assert.equal(
      validateResource(cpus({ role: 'eng', reservations: [{ type: 'DYNAMIC', role: 'eng' }] })),
      "Invalid resource format: 'Resource.role' and 'Resource.reservation' must either be both set or both not set if the single reservation in 'Resource.reservations' is DYNAMIC",
    );
    assert.equal(
      validateResource(
        cpus({
          role: 'eng',
          reservation: { principal: 'x' },
          reservations: [{ type: 'DYNAMIC', role: 'eng', principal: 'p' }],
        }),
      ),
      "Invalid resource format: 'Resource.reservation.principal' with 'x' does not match the principal 'p' in 'Resource.reservations'",
    );
    assert.equal(
      validateResource(
        cpus({
          role: 'eng',
          reservation: { labels: [{ key: 'a' }] },
          reservations: [{ type: 'DYNAMIC', role: 'eng', labels: [{ key: 'b' }] }],
        }),
      ),
      "Invalid resource format: 'Resource.reservation.labels' with '{a}' does not match the labels '{b}' in 'Resource.reservations'",
    );
    assert.equal(
      validateResource(
        cpus({
          role: 'eng/a',
          reservations: [
            { type: 'DYNAMIC', role: 'eng' },
            { type: 'DYNAMIC', role: 'eng/a' },
          ],
        }),
      ),
      "Invalid resource format: 'Resource.role' must not be set if there is more than one reservation in 'Resource.reservations'",
    );
    assert.equal(
      validateResource(cpus({ reservations: [{ type: 'UNKNOWN', role: 'eng' }] })),
      "Unsupported 'Resource.ReservationInfo.type'",
    );
  });

  it('checks shared resources', () => {
    assert.equal(validateResource(cpus({ shared: true })), 'Resource cpus cannot be shared');
    assert.equal(
      validateResource({ name: 'disk', type: 'SCALAR', scalar: 1, shared: true }),
      'Only persistent volumes can be shared',
    );
  });

  it('names the resource in collection-level messages', () => {
    assert.equal(
      validateResources([cpus(), { name: 'mem', type: 'SCALAR', scalar: -5, role: 'eng' }]),
      "Resource 'mem(reservations: [(STATIC,eng)]):-5' is invalid: Invalid scalar resource: value < 0",
    );
    assert.throws(
      () => assertValidResources([cpus({ scalar: -1 })]),
      strataError('RESOURCES_INVALID', /^invalid resource 'cpus:-1': Invalid scalar resource: value < 0$/),
    );
    assert.throws(
      () => Resources.fromInputs([{ name: 'ports', type: 'RANGES', ranges: [{ begin: 3, end: 1 }] }]),
      strataError('RESOURCES_INVALID', /'ports:\[3-1\]': Invalid ranges resource: begin > end/),
    );
    assert.ok(
      Resources.fromInputs([cpus({ scalar: -1 }), cpus()], { invalid: 'skip' }).equals(
        Resources.fromInputs([cpus()]),
      ),
    );
  });
});

describe("master's resource validation", () => {
  it('rejects persistent volumes on unreserved or revocable disk', () => {
    assert.equal(
      validateDiskInfo([volumeInput({ reservations: undefined })]),
      'Persistent volumes cannot be created from unreserved resources',
    );
    assert.equal(
      validateResourcesForMaster([volumeInput({ reservations: undefined })]),
      'Invalid DiskInfo: Persistent volumes cannot be created from unreserved resources',
    );
    assert.equal(
      validateDiskInfo([volumeInput({ revocable: true })]),
      'Persistent volumes cannot be created from revocable resources',
    );
    assert.equal(
      validateDiskInfo([volumeInput({ disk: { persistence: { id: 'v1' } } })]),
      "Expecting 'volume' to be set for persistent volume",
    );
    assert.equal(
      validateDiskInfo([
        volumeInput({
          disk: { persistence: { id: 'v1' }, volume: { containerPath: 'd', hostPath: '/h', mode: 'RW' } },
        }),
      ]),
      "Expecting 'host_path' to be unset for persistent volume",
    );
    assert.equal(
      validateDiskInfo([
        volumeInput({ disk: { persistence: { id: 'a/b' }, volume: { containerPath: 'd', mode: 'RW' } } }),
      ]),
      "Persistence ID 'a/b' contains invalid characters",
    );
    assert.equal(
      validateDiskInfo([
        { name: 'disk', type: 'SCALAR', scalar: 1, disk: { volume: { containerPath: 'd', mode: 'RW' } } },
      ]),
      'Non-persistent volume not supported',
    );
    assert.equal(
      validateDiskInfo([{ name: 'disk', type: 'SCALAR', scalar: 1, disk: {} }]),
      'DiskInfo is set but empty',
    );
    assert.equal(validateResourcesForMaster([volumeInput()]), undefined);
  });

  it('checks gpus, revocable mixes, dynamic revocable reservations and persistence ids', () => {
    assert.equal(
      validateGpus([{ name: 'gpus', type: 'SCALAR', scalar: 1.5 }]),
      "The 'gpus' resource must be an unsigned integer",
    );
    assert.equal(validateGpus([{ name: 'gpus', type: 'SCALAR', scalar: 2 }]), undefined);
    assert.equal(
      validateResourcesForMaster([{ name: 'gpus', type: 'SCALAR', scalar: 0.5 }]),
      "Invalid 'gpus' resource: The 'gpus' resource must be an unsigned integer",
    );
    assert.equal(
      validateRevocableMix([cpus(), cpus({ revocable: true })]),
      "Cannot use both revocable and non-revocable 'cpus' at the same time",
    );
    assert.equal(
      validateRevocableMix([cpus({ revocable: true }), { name: 'mem', type: 'SCALAR', scalar: 1 }]),
      undefined,
    );
    assert.equal(
      validateResourcesForMaster([cpus({ revocable: true, role: 'eng', reservation: {} })]),
      'Invalid ReservationInfo: Dynamically reserved resource cpus(reservations: [(DYNAMIC,eng)]){REV}:1 cannot be created from revocable resources',
    );
    assert.equal(
      validateUniquePersistenceIds([volumeInput(), volumeInput()]),
      "Persistence ID 'v1' is not unique",
    );
    assert.equal(
      validateUniquePersistenceIds([
        volumeInput(),
        volumeInput({ reservations: [{ type: 'DYNAMIC', role: 'ops' }] }),
      ]),
      undefined,
      'unique per role',
    );
  });
});
