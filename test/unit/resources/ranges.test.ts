import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ranges, UINT64_MAX } from '../../../src/resources/ranges.js';
import { ValueSet } from '../../../src/resources/value-set.js';
import { randomInt, seededRandom, strataError } from './helpers.js';

const R = (...pairs: [number | bigint, number | bigint][]) => Ranges.of(pairs);

describe('Ranges', () => {
  it('normalizes: sorts, merges overlapping and adjacent ranges', () => {
    assert.equal(R([5, 6], [1, 2], [3, 4]).toString(), '[1-6]');
    assert.equal(R([1, 10], [2, 3]).toString(), '[1-10]');
    assert.equal(R([1, 2], [4, 5]).toString(), '[1-2, 4-5]');
    assert.equal(R([31000, 32000], [33000, 34000]).rangeCount, 2);
    assert.deepEqual(R([7, 9], [1, 1]).toArray(), [
      { begin: 1, end: 1 },
      { begin: 7, end: 9 },
    ]);
    assert.equal(Ranges.of([]).toString(), '[]');
  });

  it('adds (union) and subtracts', () => {
    const ports = R([31000, 32000]);
    assert.equal(ports.subtract(R([31500, 31600])).toString(), '[31000-31499, 31601-32000]');
    assert.equal(ports.subtract(R([30000, 31000], [32000, 40000])).toString(), '[31001-31999]');
    assert.equal(ports.subtract(ports).isEmpty(), true);
    assert.equal(ports.subtract(R([1, 2])), ports, 'disjoint subtraction changes nothing');
    assert.equal(
      R([1, 2])
        .add(R([3, 4]))
        .toString(),
      '[1-4]',
    );
    assert.equal(
      R([1, 2])
        .add(R([2, 8], [10, 10]))
        .toString(),
      '[1-8, 10-10]',
    );
    const split = R([1, 10]).subtract(R([2, 2], [4, 4], [6, 6]));
    assert.equal(split.toString(), '[1-1, 3-3, 5-5, 7-10]');
  });

  it('intersects and tests containment', () => {
    assert.equal(
      R([1, 10], [20, 30])
        .intersection(R([5, 25]))
        .toString(),
      '[5-10, 20-25]',
    );
    assert.ok(R([1, 10], [20, 30]).contains(R([2, 3], [20, 30])));
    assert.ok(!R([1, 10], [20, 30]).contains(R([9, 21])));
    assert.ok(R([1, 10]).contains(Ranges.EMPTY));
    assert.ok(!Ranges.EMPTY.contains(R([1, 1])));
    assert.ok(R([1, 10]).has(10));
    assert.ok(!R([1, 10]).has(11));
    assert.ok(R([1, 2]).equals(R([2, 2], [1, 1])));
    assert.equal(R([31000, 32000]).count(), 1001n);
  });

  it('is exact for uint64 bounds, including 2^64-1', () => {
    const top = R([UINT64_MAX - 10n, UINT64_MAX]);
    assert.equal(top.toString(), '[18446744073709551605-18446744073709551615]');
    assert.equal(top.count(), 11n);
    assert.ok(top.has(UINT64_MAX));
    assert.equal(
      top.subtract(R([UINT64_MAX, UINT64_MAX])).toString(),
      '[18446744073709551605-18446744073709551614]',
    );
    // Crossing 2^53: number and bigint bounds meet and coalesce exactly.
    const safe = Number.MAX_SAFE_INTEGER;
    const crossing = R([safe - 1, safe]).add(R([BigInt(safe) + 1n, BigInt(safe) + 5n]));
    assert.equal(crossing.rangeCount, 1);
    assert.deepEqual(crossing.toArray(), [{ begin: safe - 1, end: BigInt(safe) + 5n }]);
    assert.equal(typeof crossing.toArray()[0]!.begin, 'number', 'safe bounds stay numbers');
    assert.ok(R([0n, 5n]).equals(R([0, 5])), 'bigint input is canonicalized');
    const everything = R([0, UINT64_MAX]);
    assert.equal(everything.count(), UINT64_MAX + 1n);
    assert.ok(everything.contains(top));
  });

  it('rejects bad bounds with RESOURCES_INVALID', () => {
    assert.throws(() => R([5, 1]), strataError('RESOURCES_INVALID', /begin > end/));
    assert.throws(() => R([-1, 1]), strataError('RESOURCES_INVALID', /negative/));
    assert.throws(() => R([1.5, 2]), strataError('RESOURCES_INVALID', /not an integer/));
    assert.throws(() => R([0n, UINT64_MAX + 1n]), strataError('RESOURCES_INVALID', /uint64/));
  });

  it('matches a bitmap model on random inputs (seeded)', () => {
    const random = seededRandom(20240517);
    const universe = 64;
    const randomRanges = () => {
      const pairs: [number, number][] = [];
      for (let i = randomInt(random, 0, 5); i > 0; i--) {
        const begin = randomInt(random, 0, universe - 1);
        pairs.push([begin, Math.min(universe - 1, begin + randomInt(random, 0, 8))]);
      }
      return Ranges.of(pairs);
    };
    const bits = (ranges: Ranges) => {
      const set = new Set<number>();
      for (const { begin, end } of ranges.toArray())
        for (let v = Number(begin); v <= Number(end); v++) set.add(v);
      return set;
    };
    const normalized = (ranges: Ranges) => {
      const list = ranges.toArray();
      for (let i = 1; i < list.length; i++)
        assert.ok(list[i]!.begin > Number(list[i - 1]!.end) + 1, 'coalesced');
    };
    for (let round = 0; round < 500; round++) {
      const a = randomRanges();
      const b = randomRanges();
      const [sa, sb] = [bits(a), bits(b)];
      const union = a.add(b);
      const difference = a.subtract(b);
      const common = a.intersection(b);
      for (const result of [union, difference, common]) normalized(result);
      assert.deepEqual(bits(union), new Set([...sa, ...sb]));
      assert.deepEqual(bits(difference), new Set([...sa].filter((v) => !sb.has(v))));
      assert.deepEqual(bits(common), new Set([...sa].filter((v) => sb.has(v))));
      assert.equal(
        a.contains(b),
        [...sb].every((v) => sa.has(v)),
      );
      assert.ok(union.subtract(b).equals(difference));
      assert.ok(a.contains(difference));
    }
  });
});

describe('ValueSet', () => {
  it('keeps first-insertion order, compares as a set', () => {
    const set = ValueSet.of(['sdb', 'sda', 'sdb']);
    assert.deepEqual(set.items(), ['sdb', 'sda']);
    assert.equal(set.toString(), '{sdb, sda}');
    assert.ok(set.equals(ValueSet.of(['sda', 'sdb'])));
    assert.deepEqual(set.add(ValueSet.of(['sdc', 'sda'])).items(), ['sdb', 'sda', 'sdc']);
    assert.deepEqual(set.subtract(ValueSet.of(['sdb'])).items(), ['sda']);
    assert.ok(set.contains(ValueSet.of(['sda'])));
    assert.ok(!set.contains(ValueSet.of(['sdz'])));
    assert.deepEqual(set.intersection(ValueSet.of(['sda', 'x'])).items(), ['sda']);
    assert.equal(ValueSet.EMPTY.toString(), '{}');
  });

  it('uses hash lookup for large sets with the same answers', () => {
    const many = ValueSet.of(Array.from({ length: 50 }, (_, i) => `d${i}`));
    assert.ok(many.has('d49'));
    assert.ok(!many.has('d50'));
    assert.ok(many.contains(ValueSet.of(['d1', 'd20', 'd49'])));
    assert.equal(many.subtract(ValueSet.of(['d0'])).size, 49);
  });
});
