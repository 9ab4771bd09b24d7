/**
 * The legacy JSON text writers: the fast resource summary must equal the reference summary of
 * src/resources (section 5.2) for every kind of resource, and the sink must yield when told to.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JsonTextSink, q, recoveredAgentText, summaryText } from '../../../src/master/legacy-json.js';
import { parseResources } from '../../../src/resources/flags.js';
import { ResourceItem } from '../../../src/resources/resource.js';
import { Resources } from '../../../src/resources/resources.js';
import { toLegacySummary } from '../../../src/resources/summary.js';
import { stringifyJson } from '../../../src/wire/json-text.js';

const reference = (resources: Resources) => stringifyJson(toLegacySummary(resources));

describe('summaryText', () => {
  const cases: Array<[string, Resources]> = [
    ['empty', Resources.EMPTY],
    ['scalars', parseResources('cpus:1.5;mem:1024;disk:0.001;gpus:2')],
    ['other scalars first seen', parseResources('foo:3;cpus:1;bar:0.5;mem:8')],
    ['ports and sets', parseResources('cpus:1;ports:[31000-31005, 32000-32000];disks:{sda,sdb}')],
    ['reserved and allocated', parseResources('cpus(eng):2;cpus:1;mem(eng):64').allocate('eng')],
    [
      'revocable',
      Resources.of(
        ResourceItem.scalar('cpus', 1, { revocable: true }),
        ResourceItem.scalar('cpus', 2),
        ResourceItem.ranges('ports', [[1, 5]], { revocable: true }),
      ),
    ],
    [
      'ranges of two reservations are unioned',
      Resources.of(
        ResourceItem.ranges('ports', [[10, 20]]),
        ResourceItem.ranges('ports', [[21, 30]], { reservations: [{ type: 'STATIC', role: 'eng' }] }),
      ),
    ],
  ];
  for (const [name, resources] of cases) {
    it(`matches the reference summary: ${name}`, () => {
      assert.equal(summaryText(resources), reference(resources));
    });
  }

  it('writes quantities as doubles', () => {
    assert.equal(summaryText(parseResources('cpus:4')), '{"cpus":4.0,"gpus":0.0,"mem":0.0,"disk":0.0}');
  });
});

describe('JsonTextSink', () => {
  it('returns the bytes written, UTF-8 encoded, across chunk boundaries', () => {
    const sink = new JsonTextSink(false);
    const piece = '"é",'.repeat(40_000);
    sink.write('[');
    sink.write(piece);
    sink.write('0]');
    const pieces = sink.finish();
    assert.ok(pieces.length > 1, 'large documents stay in pieces');
    const text = Buffer.concat(pieces).toString('utf8');
    assert.equal(text, `[${piece}0]`);
    assert.equal((JSON.parse(text) as unknown[]).length, 40_001);
  });

  it('breathe() asks to yield only after a slice has run long enough', async () => {
    const sink = new JsonTextSink();
    let pauses = 0;
    let calls = 0;
    const started = Date.now();
    while (pauses < 2 && Date.now() - started < 5000) {
      calls++;
      const pause = sink.breathe();
      if (pause) {
        pauses++;
        await pause;
      }
    }
    assert.equal(pauses, 2);
    // Not before a slice has run 8 ms: that is far more than 64 calls of this loop.
    assert.ok(calls > 64, `${calls} calls`);
    assert.equal(sink.yields, pauses);
    const idle = new JsonTextSink(false);
    for (let i = 0; i < 1000; i++) assert.equal(idle.breathe(), undefined);
  });
});

describe('recoveredAgentText', () => {
  it('takes the port from the pid', () => {
    assert.deepEqual(
      JSON.parse(recoveredAgentText({ id: 'a-S1', hostname: 'h', pid: 'slave(1)@10.0.0.1:5051' })),
      {
        id: 'a-S1',
        hostname: 'h',
        port: 5051,
        attributes: {},
      },
    );
  });
});

describe('q', () => {
  it('quotes exactly as JSON.stringify does', () => {
    for (const value of [
      '',
      'task-1',
      'a"b',
      'back\\slash',
      'tab\there',
      'line\nbreak',
      'é',
      '\u0000',
      '\u2028',
      '\ud800',
    ]) {
      assert.equal(q(value), JSON.stringify(value), JSON.stringify(value));
    }
  });
});
