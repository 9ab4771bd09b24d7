import type { Command } from 'commander';
import { probeHost } from '../common/host.js';
import { describeHost } from './doctor.js';

export function registerLocal(program: Command): void {
  program
    .command('local')
    .description('start a master and an agent on loopback (what `npm start` runs)')
    .option('--port <port>', 'master port; the agent takes the next one', '5050')
    .option('--agents <n>', 'number of agents', '1')
    .action(async (opts: { port: string; agents: string }) => {
      const { runLocalCluster } = await import('../local/cluster.js');
      await runLocalCluster({
        masterPort: Number(opts.port),
        agents: Number(opts.agents),
        host: probeHost(),
      });
    });
}

export { describeHost };
