/** Starts an in-process master on an ephemeral loopback port, for tests of its HTTP surface. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseOptions } from '../../src/common/options.js';
import { masterFlags } from '../../src/master/flags.js';
import { type RunningMaster, startMaster } from '../../src/master/process.js';

export async function startTestMaster(extraFlags: string[] = []): Promise<RunningMaster & { url: string }> {
  const workDir = mkdtempSync(join(tmpdir(), 'strata-master-'));
  const { values } = parseOptions(masterFlags, [
    '--ip=127.0.0.1',
    '--port=0',
    `--work_dir=${workDir}`,
    '--logging_level=warn',
    ...extraFlags,
  ]);
  const master = await startMaster(values, { installSignalHandlers: false });
  return { ...master, url: `http://127.0.0.1:${master.address.port}` };
}
