import { resolve } from 'node:path';
import type { Command } from 'commander';
import { probeHost } from '../common/host.js';
import { CliError } from './api.js';
import { describeHost } from './doctor.js';

export function registerLocal(program: Command): void {
  program
    .command('local')
    .description('start a master and an agent on loopback (what `npm start` runs)')
    .option('--port <port>', 'master port; the agents take the next ones', '5050')
    .option('--agents <n>', 'number of agents, each with its own share of the machine', '1')
    .option(
      '--work_dir <dir>',
      'where the master and agents keep their state (also STRATA_WORK_DIR; default ~/.local/state/strata/local)',
    )
    .option(
      '--docker_registry <url|dir>',
      'where agents pull docker images from (a registry URL, or a directory of docker-archive/OCI tarballs)',
    )
    .option(
      '--isolation <mode>',
      'best: containers when the host allows them, else posix; posix: plain processes',
      'best',
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  strata local                                   master on 127.0.0.1:5050, one agent on 5051\n' +
        '  strata local --agents 3                        three agents sharing the machine\n' +
        '  strata local --port=6050 --work_dir=/tmp/strata --isolation=posix\n' +
        '  strata local --docker_registry=http://127.0.0.1:5000   images from a local registry (as root)',
    )
    .action(
      async (opts: {
        port: string;
        agents: string;
        work_dir?: string;
        isolation: string;
        docker_registry?: string;
      }) => {
        if (opts.isolation !== 'best' && opts.isolation !== 'posix')
          throw new CliError(`--isolation must be best or posix, got '${opts.isolation}'`, 2);
        const port = Number(opts.port);
        if (!/^\d+$/.test(opts.port) || port > 65535)
          throw new CliError(`--port must be a TCP port, got '${opts.port}'`, 2);
        const agents = Number(opts.agents);
        if (!/^\d+$/.test(opts.agents) || agents < 1 || agents > 64)
          throw new CliError(`--agents must be a whole number from 1 to 64, got '${opts.agents}'`, 2);
        const dir = opts.work_dir ?? process.env.STRATA_WORK_DIR;
        const workDir = dir ? resolve(dir) : undefined;
        const { runLocalCluster } = await import('../local/cluster.js');
        try {
          await runLocalCluster({
            masterPort: port,
            agents,
            host: probeHost(),
            isolation: opts.isolation,
            ...(workDir ? { stateDir: workDir } : {}),
            ...(opts.docker_registry ? { dockerRegistry: opts.docker_registry } : {}),
          });
        } catch (err) {
          const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
          if (e.code === 'EADDRINUSE')
            throw new CliError(
              `${e.address ?? '127.0.0.1'}:${e.port ?? '?'} is in use (another strata local?); --port=N moves the master, the agents take the next ports`,
            );
          throw err;
        }
      },
    );
}

export { describeHost };
