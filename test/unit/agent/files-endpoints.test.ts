/**
 * The `/files` endpoint helpers: query parsing with Mesos' texts, read bodies written byte for
 * byte (data that is not UTF-8 survives), and the legacy FileInfo JSON.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  executorVirtualPath,
  fileEntryJson,
  jsonStringBytes,
  parseReadParameter,
  readJson,
} from '../../../src/agent/files-endpoints.js';
import { stringifyJson } from '../../../src/wire/json-text.js';

describe('files endpoints', () => {
  it('parses offset and length as Mesos does', () => {
    assert.deepEqual(parseReadParameter('offset', '0'), { value: 0 });
    assert.deepEqual(parseReadParameter('offset', '-1'), { value: -1 });
    assert.deepEqual(parseReadParameter('length', ' 42 '), { value: 42 });
    assert.deepEqual(parseReadParameter('offset', '-2'), { error: 'Negative offset provided: -2.\n' });
    assert.deepEqual(parseReadParameter('length', 'abc'), {
      error: "Failed to parse length: Failed to convert 'abc' to number.\n",
    });
    assert.deepEqual(parseReadParameter('offset', '1.5'), {
      error: "Failed to parse offset: Failed to convert '1.5' to number.\n",
    });
    assert.ok('error' in parseReadParameter('offset', '99999999999999999999'));
    assert.deepEqual(parseReadParameter('offset', '9007199254740993'), { value: Number.MAX_SAFE_INTEGER });
  });

  it('writes file bytes as a JSON string without decoding them', () => {
    assert.equal(jsonStringBytes(Buffer.from('plain text')).toString(), '"plain text"');
    assert.equal(jsonStringBytes(Buffer.from('a"b\\c\n\t\r\b\f')).toString(), '"a\\"b\\\\c\\n\\t\\r\\b\\f"');
    assert.equal(jsonStringBytes(Buffer.from([0x01, 0x1f])).toString(), '"\\u0001\\u001f"');
    // UTF-8 and stray bytes pass through untouched.
    const raw = Buffer.from([0x68, 0xc3, 0xa9, 0xff, 0x21]);
    assert.deepEqual(jsonStringBytes(raw), Buffer.concat([Buffer.from('"'), raw, Buffer.from('"')]));
    const text = 'héllo "world"\n';
    assert.deepEqual(JSON.parse(readJson(7, Buffer.from(text)).toString()), { offset: 7, data: text });
  });

  it('writes FileInfo in the legacy shape', () => {
    const json = fileEntryJson({
      path: '/frameworks/f/executors/e/runs/latest/stdout',
      nlink: 1,
      size: 12,
      mtimeSecs: 1_700_000_000,
      mode: 0o100644,
      uid: 'root',
      gid: 'root',
    });
    assert.equal(
      stringifyJson(json),
      '{"path":"/frameworks/f/executors/e/runs/latest/stdout","nlink":1,"size":12,' +
        '"mtime":1700000000.0,"mode":"-rw-r--r--","uid":"root","gid":"root"}',
    );
    assert.equal(executorVirtualPath('f', 'e'), '/frameworks/f/executors/e/runs/latest');
  });
});
