/**
 * Seeded property checks of the Resources algebra over random agent-like collections that mix
 * reservations (static, dynamic, refined), allocations, revocable resources, ranges, sets, MOUNT
 * disks, persistent volumes and shared volumes. Sizes go past the index threshold so both lookup
 * paths are exercised. A failure prints the seed and round to reproduce it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resourcesFromMessages, resourcesToMessages } from '../../../src/resources/messages.js';
import type { Reservation, ResourceMeta } from '../../../src/resources/resource.js';
import { ResourceItem } from '../../../src/resources/resource.js';
import { Resources } from '../../../src/resources/resources.js';
import { randomInt, seededRandom } from './helpers.js';

type Side = 'a' | 'b';

const RESERVATION_STACKS: Reservation[][] = [
  [],
  [{ type: 'STATIC', role: 'eng' }],
  [{ type: 'DYNAMIC', role: 'ops', principal: 'p' }],
  [
    { type: 'DYNAMIC', role: 'eng', principal: 'p' },
    { type: 'DYNAMIC', role: 'eng/web', principal: 'q', labels: [{ key: 'k', value: 'v' }] },
  ],
];

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[randomInt(random, 0, list.length - 1)]!;
}

function randomMeta(random: () => number, reservations = pick(random, RESERVATION_STACKS)): ResourceMeta {
  return {
    reservations,
    allocationInfo: random() < 0.3 ? { role: pick(random, ['eng', 'eng/web']) } : undefined,
    revocable: reservations.length === 0 && random() < 0.1,
  };
}

/** One random item; ranges and set items come from a band private to `side`, so sides never overlap. */
function randomItem(random: () => number, side: Side): ResourceItem {
  const band = side === 'a' ? 1000 : 2000;
  const volumeMeta = (shared: boolean): ResourceMeta => ({
    reservations: [{ type: 'DYNAMIC', role: 'eng', principal: 'p' }],
    disk: {
      persistence: { id: `v${randomInt(random, 1, 3)}` },
      volume: { containerPath: 'data', mode: 'RW' },
    },
    shared,
  });
  switch (randomInt(random, 0, 7)) {
    case 0:
    case 1:
      return ResourceItem.scalar(
        pick(random, ['cpus', 'mem', 'gpus']),
        randomInt(random, 1, 20_000) / 1000,
        randomMeta(random),
      );
    case 2: {
      const begin = band + randomInt(random, 0, 900);
      return ResourceItem.ranges('ports', [[begin, begin + randomInt(random, 0, 50)]], randomMeta(random));
    }
    case 3:
      return ResourceItem.set(
        'disks',
        [`${side}${randomInt(random, 1, 6)}`, `${side}${randomInt(random, 1, 6)}`],
        randomMeta(random),
      );
    case 4:
      return ResourceItem.scalar('disk', randomInt(random, 1, 100), {
        disk: { source: { type: 'MOUNT', mount: { root: `/mnt/${randomInt(random, 1, 2)}` } } },
      });
    case 5:
      return ResourceItem.scalar('disk', randomInt(random, 1, 3) * 10, volumeMeta(false));
    case 6:
      return ResourceItem.scalar('disk', 10, volumeMeta(true));
    default:
      return ResourceItem.scalar(
        'disk',
        randomInt(random, 1, 100),
        randomMeta(random, pick(random, RESERVATION_STACKS.slice(0, 2))),
      );
  }
}

function randomResources(random: () => number, side: Side): Resources {
  const count = random() < 0.2 ? randomInt(random, 20, 40) : randomInt(random, 0, 8);
  return Resources.from(Array.from({ length: count }, () => randomItem(random, side)));
}

function shuffled<T>(random: () => number, list: readonly T[]): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomInt(random, 0, i);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function check(seed: number, rounds: number, property: (random: () => number, round: number) => void): void {
  const random = seededRandom(seed);
  for (let round = 0; round < rounds; round++) {
    try {
      property(random, round);
    } catch (error) {
      throw new Error(`property failed with seed ${seed} at round ${round}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
}

const same = (actual: Resources, expected: Resources, what: string) =>
  assert.ok(actual.equals(expected), `${what}\n  actual:   ${actual}\n  expected: ${expected}`);

describe('Resources algebra (seeded properties)', () => {
  it('(a + b) - b == a, and addition commutes and associates', () => {
    check(1, 300, (random) => {
      const a = randomResources(random, 'a');
      const b = randomResources(random, 'b');
      const c = randomResources(random, 'a');
      same(a.add(b).subtract(b), a, '(a + b) - b');
      same(a.add(b), b.add(a), 'a + b == b + a');
      same(a.add(b).add(c), a.add(b.add(c)), '(a + b) + c == a + (b + c)');
      assert.ok(a.add(b).contains(a) && a.add(b).contains(b), 'a + b contains a and b');
      same(Resources.sum([a, b, c]), a.add(b).add(c), 'sum');
    });
  });

  it('a.contains(a - x), and a ⊇ b implies (a - b) + b == a', () => {
    check(2, 300, (random) => {
      const a = randomResources(random, 'a');
      const x = random() < 0.5 ? randomResources(random, 'a') : a.filter(() => random() < 0.5);
      const rest = a.subtract(x);
      assert.ok(a.contains(rest), 'a contains a - x');
      const part = a.filter(() => random() < 0.5);
      assert.ok(a.contains(part));
      same(a.subtract(part).add(part), a, '(a - b) + b');
      assert.ok(a.subtract(a).isEmpty(), 'a - a is empty');
      assert.ok(a.contains(a) && a.equals(a));
    });
  });

  it('equality ignores order; totals add up for non-shared resources', () => {
    check(3, 300, (random) => {
      const a = randomResources(random, 'a').nonShared();
      const b = randomResources(random, 'b').nonShared();
      same(Resources.from(shuffled(random, [...a.items(), ...b.items()])), a.add(b), 'shuffled');
      const totals = a.add(b).scalarTotalsMilli();
      for (const name of new Set([...a.names(), ...b.names()])) {
        if (a.add(b).types().get(name) !== 'SCALAR') continue;
        assert.equal(totals.get(name), a.scalarMilli(name) + b.scalarMilli(name), name);
      }
      same(a.add(b).flatten(), a.flatten().add(b.flatten()), 'flatten distributes over +');
    });
  });

  it('filters partition a collection', () => {
    check(4, 200, (random) => {
      const a = randomResources(random, 'a');
      same(a.reserved().add(a.unreserved()), a, 'reserved + unreserved');
      same(a.revocable().add(a.nonRevocable()), a, 'revocable + non-revocable');
      same(a.shared().add(a.nonShared()), a, 'shared + non-shared');
      same(a.scalars().add(a.nonScalars()), a, 'scalars + non-scalars');
      same(Resources.sum(a.reservations().values()), a.reserved(), 'reservations()');
      same(a.allocate('eng').unallocate(), a.unallocate(), 'allocate then unallocate');
      assert.ok(a.allocatableTo('eng/web').contains(a.reservedToRoleSubtree('eng/web')));
    });
  });

  it('round-trips through messages in every format', () => {
    check(5, 200, (random) => {
      const a = randomResources(random, 'a').nonShared();
      for (const format of ['post-refinement', 'endpoint'] as const) {
        same(resourcesFromMessages(resourcesToMessages(a, format)), a, format);
      }
      const unrefined = a.filter((item) => !item.hasRefinedReservations);
      same(
        resourcesFromMessages(resourcesToMessages(unrefined, 'pre-refinement')),
        unrefined,
        'pre-refinement',
      );
    });
  });
});
