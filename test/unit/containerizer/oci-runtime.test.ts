import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readExitCode } from '../../../src/containerizer/runtime/oci-runtime.js';

describe('the shim exit record', () => {
  it('is read only once its one write (ending in a newline) is complete', () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-exit-'));
    try {
      assert.equal(readExitCode(dir), undefined, 'no file yet');
      writeFileSync(join(dir, 'exit'), '');
      assert.equal(readExitCode(dir), undefined, 'created, not written');
      writeFileSync(join(dir, 'exit'), '13');
      assert.equal(readExitCode(dir), undefined, 'no newline: the write is not complete');
      writeFileSync(join(dir, 'exit'), '137\n');
      assert.equal(readExitCode(dir), 137);
      writeFileSync(join(dir, 'exit'), 'garbage\n');
      assert.equal(readExitCode(dir), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
