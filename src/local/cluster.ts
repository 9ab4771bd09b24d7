/**
 * The one-command local cluster behind `npm start`. Until the master and agent exist, it says so
 * plainly and reports what this host can isolate, which is what the cluster will use.
 */
import { describeHost } from '../cli/doctor.js';
import type { HostReport } from '../common/host.js';

export interface LocalClusterOptions {
  masterPort: number;
  agents: number;
  host: HostReport;
}

export async function runLocalCluster(options: LocalClusterOptions): Promise<void> {
  console.log('Strata local cluster');
  for (const line of describeHost(options.host)) console.log(`  ${line}`);
  console.log(
    `The master and agent processes are not in this build yet, so no cluster was started on port ${options.masterPort}.`,
  );
  process.exitCode = 1;
}
