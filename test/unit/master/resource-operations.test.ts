/**
 * The master's conversion of RESERVE, UNRESERVE, CREATE, DESTROY, GROW_VOLUME and SHRINK_VOLUME
 * (resource-operations.ts) and the agent's checkpointed resources (applyCheckpointed,
 * checkpointedOf): table-driven, pure.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { convertOperation } from '../../../src/master/resource-operations.js';
import {
  applyCheckpointed,
  checkpointedOf,
  parseResources,
  Resources,
} from '../../../src/resources/index.js';
import { Offer_OperationSchema, type ResourceSchema } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

type ResourceInit = MessageInitShape<typeof ResourceSchema>;

const dynamic = (role: string) => [{ type: 2, role, principal: 'ops' }];
const reserved = (name: string, value: number, role = 'db'): ResourceInit => ({
  name,
  type: 0,
  scalar: { value },
  reservations: dynamic(role),
});
const volume = (id: string, size: number, role = 'db'): ResourceInit => ({
  name: 'disk',
  type: 0,
  scalar: { value: size },
  reservations: dynamic(role),
  disk: { persistence: { id, principal: 'ops' }, volume: { containerPath: id, mode: 1 } },
});
const operation = (init: MessageInitShape<typeof Offer_OperationSchema>) =>
  create(Offer_OperationSchema, init);

/** An agent after reserving disk:100 for db and creating volume `v1` on it. */
function agentWithVolume(): Resources {
  const total = parseResources('cpus:4;mem:1024;disk:1000');
  const reserve = convertOperation(operation({ type: 2, reserve: { resources: [reserved('disk', 100)] } }), {
    available: total,
    checkpointed: Resources.EMPTY,
    used: [],
  });
  assert.ok(!('error' in reserve), JSON.stringify(reserve));
  const created = convertOperation(operation({ type: 4, create: { volumes: [volume('v1', 100)] } }), {
    available: reserve.available,
    checkpointed: checkpointedOf(reserve.available),
    used: [],
  });
  assert.ok(!('error' in created), JSON.stringify(created));
  return created.available;
}

describe('convertOperation', () => {
  const total = parseResources('cpus:4;mem:1024;disk:1000');
  const base = { available: total, checkpointed: Resources.EMPTY, used: [] as Resources[] };

  const refusals: Array<
    [string, MessageInitShape<typeof Offer_OperationSchema>, Partial<typeof base>, RegExp]
  > = [
    [
      'reserving more than there is',
      { type: 2, reserve: { resources: [reserved('cpus', 8)] } },
      {},
      /does not contain/,
    ],
    ['reserving nothing', { type: 2, reserve: { resources: [] } }, {}, /no resources to reserve/],
    [
      'a static "reservation"',
      {
        type: 2,
        reserve: {
          resources: [
            { name: 'cpus', type: 0, scalar: { value: 1 }, reservations: [{ type: 1, role: 'db' }] },
          ],
        },
      },
      {},
      /not dynamically reserved/,
    ],
    [
      'unreserving what is not reserved',
      { type: 3, unreserve: { resources: [reserved('cpus', 1)] } },
      {},
      /does not contain/,
    ],
    ['a volume on unreserved disk', { type: 4, create: { volumes: [volume('v9', 10, '*')] } }, {}, /./],
    [
      'destroying a volume that does not exist',
      { type: 5, destroy: { volumes: [volume('nope', 10)] } },
      {},
      /Persistent volumes not found/,
    ],
  ];
  for (const [name, op, context, message] of refusals) {
    it(`refuses ${name}`, () => {
      const result = convertOperation(operation(op), { ...base, ...context });
      assert.ok('error' in result, `${name} must be refused`);
      assert.match(result.error, message);
      assert.match(result.error, /^Invalid [A-Z_]+ Operation: /);
    });
  }

  it('refining a reservation needs RESERVATION_REFINEMENT', () => {
    const agent = convertOperation(
      operation({ type: 2, reserve: { resources: [reserved('cpus', 2, 'eng')] } }),
      base,
    );
    assert.ok(!('error' in agent));
    const refine = operation({
      type: 2,
      reserve: {
        resources: [
          {
            name: 'cpus',
            type: 0,
            scalar: { value: 1 },
            reservations: [...dynamic('eng'), ...dynamic('eng/web')],
          },
        ],
      },
    });
    const without = convertOperation(refine, {
      ...base,
      available: agent.available,
      refinementAllowed: false,
    });
    assert.ok('error' in without);
    assert.match(without.error, /RESERVATION_REFINEMENT/);
    const withIt = convertOperation(refine, { ...base, available: agent.available, refinementAllowed: true });
    assert.ok(!('error' in withIt), JSON.stringify(withIt));
    assert.equal(withIt.available.reserved('eng/web').scalar('cpus'), 1);
  });

  it('RESERVE turns unreserved into reserved; the total amount stays', () => {
    const result = convertOperation(
      operation({ type: 2, reserve: { resources: [reserved('cpus', 1), reserved('mem', 64)] } }),
      base,
    );
    assert.ok(!('error' in result));
    assert.equal(result.kind, 'RESERVE');
    assert.equal(result.consumed.toString(), parseResources('cpus:1;mem:64').toString());
    assert.equal(result.available.reserved('db').scalar('cpus'), 1);
    assert.equal(result.available.unreserved().scalar('cpus'), 3);
    assert.equal(result.available.scalar('cpus'), 4);
  });

  it('a reservation out of an offer must be for its role or below it, and carries its allocation', () => {
    const offered = total.allocate('eng');
    const below = convertOperation(
      operation({ type: 2, reserve: { resources: [reserved('cpus', 1, 'eng/web')] } }),
      {
        ...base,
        available: offered,
        allocationRole: 'eng',
      },
    );
    assert.ok(!('error' in below), JSON.stringify(below));
    assert.equal(below.converted.items()[0]?.allocationRole, 'eng');
    const other = convertOperation(
      operation({ type: 2, reserve: { resources: [reserved('cpus', 1, 'ops')] } }),
      {
        ...base,
        available: offered,
        allocationRole: 'eng',
      },
    );
    assert.ok('error' in other);
    assert.match(other.error, /allocated to role 'eng'/);
  });

  it('DESTROY refuses a volume in use, then destroys it and gives the disk back', () => {
    const agent = agentWithVolume();
    const checkpointed = checkpointedOf(agent);
    const inUse = Resources.fromInputs([]).add(agent.persistentVolumes());
    const busy = convertOperation(operation({ type: 5, destroy: { volumes: [volume('v1', 100)] } }), {
      available: agent,
      checkpointed,
      used: [inUse],
    });
    assert.ok('error' in busy);
    assert.match(busy.error, /in use/);
    const done = convertOperation(operation({ type: 5, destroy: { volumes: [volume('v1', 100)] } }), {
      available: agent,
      checkpointed,
      used: [],
    });
    assert.ok(!('error' in done), JSON.stringify(done));
    assert.equal(done.available.persistentVolumes().size, 0);
    assert.equal(done.available.reserved('db').scalar('disk'), 100);
  });

  it('CREATE refuses a persistence id that exists already', () => {
    const agent = agentWithVolume();
    const again = convertOperation(operation({ type: 4, create: { volumes: [volume('v1', 100)] } }), {
      available: agent,
      checkpointed: checkpointedOf(agent),
      used: [],
    });
    assert.ok('error' in again);
    assert.match(again.error, /v1/);
  });

  it('GROW_VOLUME and SHRINK_VOLUME move disk between the volume and its reservation', () => {
    const reservedDisk = convertOperation(
      operation({ type: 2, reserve: { resources: [reserved('disk', 100)] } }),
      {
        ...base,
        available: agentWithVolume(),
      },
    );
    assert.ok(!('error' in reservedDisk));
    const agent = reservedDisk.available;
    const grown = convertOperation(
      operation({ type: 11, growVolume: { volume: volume('v1', 100), addition: reserved('disk', 50) } }),
      { available: agent, checkpointed: checkpointedOf(agent), used: [] },
    );
    assert.ok(!('error' in grown), JSON.stringify(grown));
    assert.equal(grown.available.persistentVolumes().scalar('disk'), 150);
    const shrunk = convertOperation(
      operation({ type: 12, shrinkVolume: { volume: volume('v1', 150), subtract: { value: 30 } } }),
      { available: grown.available, checkpointed: checkpointedOf(grown.available), used: [] },
    );
    assert.ok(!('error' in shrunk), JSON.stringify(shrunk));
    assert.equal(shrunk.available.persistentVolumes().scalar('disk'), 120);
    assert.equal(shrunk.available.scalar('disk'), 1000, 'no disk appears or vanishes');
  });
});

describe('checkpointed resources', () => {
  it('checkpointedOf keeps dynamic reservations and volumes, not static ones', () => {
    const total = agentWithVolume().add(parseResources('cpus(static):1'));
    const checkpointed = checkpointedOf(total);
    assert.equal(checkpointed.persistentVolumes().size, 1);
    assert.equal(checkpointed.scalar('cpus'), undefined);
  });

  it('applyCheckpointed rebuilds the total from --resources, and refuses what no longer fits', () => {
    const flags = parseResources('cpus:4;mem:1024;disk:1000');
    const total = agentWithVolume();
    const rebuilt = applyCheckpointed(flags, checkpointedOf(total));
    assert.ok(rebuilt.equals(total), `${rebuilt} vs ${total}`);
    assert.throws(
      () => applyCheckpointed(parseResources('cpus:4;mem:1024;disk:50'), checkpointedOf(total)),
      /not in the agent's resources/,
    );
  });
});
