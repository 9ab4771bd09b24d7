/**
 * `npm run bench -- codec`: encode/decode speed of the wire codecs on realistic scheduler traffic.
 *
 * Cases: an Event OFFERS carrying 100 offers (scalar, ranges, set and reserved resources,
 * attributes, allocation info) and a Call ACCEPT launching 10 tasks. Each is measured as Mesos JSON
 * (our mapping) and as protobuf (protobuf-es binary plus our proto2 checks), against two baselines
 * in the same run: protobuf-es's own proto3 JSON (toJson/fromJson with JSON.stringify/parse) and
 * plain JSON.stringify/JSON.parse of the equivalent plain object. Ratios are ours ÷ baseline in
 * ops/s (above 1 = faster than the baseline).
 *
 * Options: --duration-ms=N (measured time per case, default 700), --warmup-ms=N (default 150).
 */
import { type DescMessage, fromJson, type MessageShape, toJson } from '@bufbuild/protobuf';
import { decodeBinary, encodeBinary } from '../src/wire/codec.js';
import { CallSchema, EventSchema } from '../src/wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import { fromMesosJson, toMesosJsonText } from '../src/wire/mesos-json.js';
import {
  acceptCallJson,
  type Measurement,
  type MeasureOptions,
  measure,
  offersEventJson,
  report,
  reportRate,
} from './_lib.js';

const BENCH = 'codec';

function option(name: string, fallback: number): number {
  const prefix = `--${name}=`;
  const arg = process.argv.find((a) => a.startsWith(prefix));
  const value = arg === undefined ? Number.NaN : Number(arg.slice(prefix.length));
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

const measureOptions: MeasureOptions = {
  warmupMs: option('warmup-ms', 150),
  durationMs: option('duration-ms', 700),
};

const utf8 = new TextEncoder();

function byteLength(text: string): number {
  return utf8.encode(text).byteLength;
}

interface Sample<Desc extends DescMessage> {
  readonly name: string;
  readonly schema: Desc;
  readonly message: MessageShape<Desc>;
}

function runSample<Desc extends DescMessage>(sample: Sample<Desc>): void {
  const { schema, message } = sample;
  const mesosText = toMesosJsonText(schema, message);
  const binary = encodeBinary(schema, message);
  const proto3Text = JSON.stringify(toJson(schema, message));
  // The plain-object baseline: the same Mesos JSON document as JSON.parse sees it.
  const plainObject: unknown = JSON.parse(mesosText);
  const plainText = JSON.stringify(plainObject);

  const run = (caseName: string, fn: () => unknown, bytes: number): Measurement => {
    const measurement = measure(fn, measureOptions);
    reportRate(BENCH, `${sample.name}/${caseName}`, measurement, bytes);
    return measurement;
  };

  for (const direction of ['encode', 'decode'] as const) {
    const ours =
      direction === 'encode'
        ? {
            mesos_json: run(
              'mesos_json/encode',
              () => toMesosJsonText(schema, message),
              byteLength(mesosText),
            ),
            protobuf: run('protobuf/encode', () => encodeBinary(schema, message), binary.byteLength),
          }
        : {
            mesos_json: run(
              'mesos_json/decode',
              () => fromMesosJson(schema, mesosText),
              byteLength(mesosText),
            ),
            protobuf: run('protobuf/decode', () => decodeBinary(schema, binary), binary.byteLength),
          };
    const baselines =
      direction === 'encode'
        ? {
            protobuf_es_json: run(
              'baseline_protobuf_es_json/encode',
              () => JSON.stringify(toJson(schema, message)),
              byteLength(proto3Text),
            ),
            json_builtin: run(
              'baseline_json_builtin/encode',
              () => JSON.stringify(plainObject),
              byteLength(plainText),
            ),
          }
        : {
            protobuf_es_json: run(
              'baseline_protobuf_es_json/decode',
              () => fromJson(schema, JSON.parse(proto3Text)),
              byteLength(proto3Text),
            ),
            json_builtin: run(
              'baseline_json_builtin/decode',
              () => JSON.parse(plainText),
              byteLength(plainText),
            ),
          };
    for (const [format, measurement] of Object.entries(ours)) {
      for (const [baseline, base] of Object.entries(baselines)) {
        report(
          BENCH,
          `${sample.name}/${format}/${direction}`,
          `ratio_vs_${baseline}`,
          measurement.opsPerSecond / base.opsPerSecond,
          'x',
        );
      }
    }
  }
}

const started = Date.now();
const offers: Sample<typeof EventSchema> = {
  name: 'event_offers_100',
  schema: EventSchema,
  message: fromMesosJson(EventSchema, offersEventJson(100)),
};
const accept: Sample<typeof CallSchema> = {
  name: 'call_accept_10_launch',
  schema: CallSchema,
  message: fromMesosJson(CallSchema, acceptCallJson(10)),
};
for (const sample of [offers, accept]) {
  report(
    BENCH,
    sample.name,
    'size_mesos_json',
    byteLength(toMesosJsonText(sample.schema, sample.message)),
    'bytes',
  );
  report(
    BENCH,
    sample.name,
    'size_protobuf',
    encodeBinary(sample.schema, sample.message).byteLength,
    'bytes',
  );
}
runSample(offers);
runSample(accept);
report(BENCH, 'total', 'wall_time', (Date.now() - started) / 1000, 's');
