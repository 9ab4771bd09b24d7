/**
 * The one-command local cluster behind `npm start` / `strata local`: a master and N agents on
 * loopback in this process (executors are still their own processes), work directories under the
 * per-user state directory (or `--work_dir`), the best isolation the host allows (containers as
 * root with crun/runc and cgroups, else posix), and a clean stop on Ctrl-C: every executor and its
 * container destroyed (tasks killed, mounts and cgroups removed), nothing left running.
 */
import { join } from 'node:path';
import { agentFlags } from '../agent/flags.js';
import type { RunningAgent } from '../agent/process.js';
import { detectedAmounts, probeMachine } from '../agent/resources.js';
import { bestIsolation, type HostReport, type IsolationChoice } from '../common/host.js';
import { parseOptions } from '../common/options.js';
import { userStateDir } from '../common/paths.js';
import { masterFlags } from '../master/flags.js';
import type { RunningMaster } from '../master/process.js';

export interface LocalClusterOptions {
  masterPort: number;
  agents: number;
  host: HostReport;
  /** Where work directories go; default `<user state dir>/local`. */
  stateDir?: string;
  logLevel?: 'info' | 'warn' | 'error';
  /** `best` (default): what the host allows, posix if that fails to start; `posix`: plain processes. */
  isolation?: 'best' | 'posix';
  /** Tests turn off SIGINT/SIGTERM handling and drive `close()` themselves. */
  installSignalHandlers?: boolean;
  /** `--docker_registry` for the agents (a registry URL or a directory of image tarballs). */
  dockerRegistry?: string;
}

/** What the agents run with, and the one line that says so. */
export interface LocalIsolation {
  containers: boolean;
  /** Agent flags: `--isolation=...` (and `--image_providers=docker`), or none for posix. */
  flags: string[];
  line: string;
}

export interface LocalCluster {
  master: RunningMaster;
  agents: RunningAgent[];
  masterUrl: string;
  stateDir: string;
  isolation: LocalIsolation;
  close(): Promise<void>;
  closed: Promise<void>;
}

/** The agents' isolation flags for a choice of `bestIsolation`. */
export function isolationFlags(choice: IsolationChoice): string[] {
  if (!choice.containers) return [];
  return [
    `--isolation=${choice.isolation}`,
    ...(choice.imageProviders ? [`--image_providers=${choice.imageProviders}`] : []),
  ];
}

/** One agent's share of the machine when several run side by side. */
export function agentShare(
  amounts: { cpus: number; mem: number; disk: number },
  agents: number,
  index: number,
) {
  const share = (total: number, decimals: number) => {
    const factor = 10 ** decimals;
    return Math.max(1 / factor, Math.floor((total / agents) * factor) / factor);
  };
  const portsPerAgent = Math.floor(1001 / agents);
  const firstPort = 31000 + index * portsPerAgent;
  return `cpus:${share(amounts.cpus, 3)};mem:${share(amounts.mem, 0)};disk:${share(amounts.disk, 0)};ports:[${firstPort}-${firstPort + portsPerAgent - 1}]`;
}

/** The first line of an error's message. */
function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return (message.split('\n')[0] ?? '').trim();
}

export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  if (!Number.isInteger(options.agents) || options.agents < 1 || options.agents > 64) {
    throw new Error(`--agents must be a whole number from 1 to 64, got '${options.agents}'`);
  }
  if (!Number.isInteger(options.masterPort) || options.masterPort < 0 || options.masterPort > 65535) {
    throw new Error(`--port must be a TCP port, got '${options.masterPort}'`);
  }
  const stateDir = options.stateDir ?? join(userStateDir(), 'local');
  const logLevel = options.logLevel ?? 'warn';
  const { startMaster } = await import('../master/process.js');
  const { startAgent } = await import('../agent/process.js');

  const master = await startMaster(
    parseOptions(masterFlags, [
      '--ip=127.0.0.1',
      `--port=${options.masterPort}`,
      `--work_dir=${join(stateDir, 'master')}`,
      `--logging_level=${logLevel}`,
    ]).values,
    { installSignalHandlers: false },
  );

  // `image_providers` is checked by name: agents built without image support still take the rest.
  const choice: IsolationChoice =
    options.isolation === 'posix'
      ? { isolation: '', imageProviders: '', containers: false, reason: 'posix (plain processes): asked for' }
      : bestIsolation(options.host, { images: 'image_providers' in agentFlags });
  let isolation: LocalIsolation = {
    containers: choice.containers,
    flags: isolationFlags(choice),
    line: choice.containers ? `${choice.reason}: ${isolationFlags(choice).join(' ')}` : choice.reason,
  };

  const agents: RunningAgent[] = [];
  const startAgents = async () => {
    const amounts = detectedAmounts(probeMachine(stateDir));
    for (let i = 0; i < options.agents; i++) {
      const port = options.masterPort === 0 ? 0 : master.address.port + 1 + i;
      const flags = [
        `--master=127.0.0.1:${master.address.port}`,
        '--ip=127.0.0.1',
        `--port=${port}`,
        `--work_dir=${join(stateDir, `agent-${i}`)}`,
        `--logging_level=${logLevel}`,
        ...(options.agents > 1 ? [`--resources=${agentShare(amounts, options.agents, i)}`] : []),
        ...isolation.flags,
        // Only agents that run images take a registry (a posix fallback drops it with the rest).
        ...(options.dockerRegistry && isolation.flags.some((f) => f.startsWith('--image_providers='))
          ? [`--docker_registry=${options.dockerRegistry}`]
          : []),
      ];
      agents.push(await startAgent(parseOptions(agentFlags, flags).values, { installSignalHandlers: false }));
    }
  };
  const stopAgents = async () => {
    for (const agent of agents.splice(0)) await agent.close({ all: true });
  };
  try {
    try {
      await startAgents();
    } catch (err) {
      if (!isolation.containers || (err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw err;
      // The runtime probe or an isolator refused this host after all: posix still works.
      await stopAgents();
      isolation = {
        containers: false,
        flags: [],
        line: `posix (plain processes): containers failed to start (${oneLine(err)})`,
      };
      await startAgents();
    }
  } catch (err) {
    await stopAgents();
    await master.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = () => {
    // `all`: executors of checkpointing frameworks go too, so nothing outlives the cluster.
    closing ??= (async () => {
      await Promise.all(agents.map((agent) => agent.close({ all: true })));
      await master.close();
    })();
    return closing;
  };
  if (options.installSignalHandlers !== false) {
    let signals = 0;
    const onSignal = () => {
      signals++;
      if (signals > 1) {
        console.log('Stopping anyway: executors may be left running.');
        process.exit(130);
      }
      console.log(
        '\nStopping: killing tasks, removing their containers, stopping the agents and the master...',
      );
      void close().then(() => console.log('Stopped.'));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  const closed = (async () => {
    await master.closed;
    await closing;
  })();
  return {
    master,
    agents,
    masterUrl: `http://127.0.0.1:${master.address.port}`,
    stateDir,
    isolation,
    close,
    closed,
  };
}

/** What `strata local` prints once the cluster is up. */
export function startupMessage(cluster: LocalCluster): string {
  const agentUrls = cluster.agents.map((a) => `http://127.0.0.1:${a.address.port}`).join(', ');
  const master = cluster.masterUrl === 'http://127.0.0.1:5050' ? '' : ` --master=${cluster.masterUrl}`;
  return `Strata local cluster is up.
  master:     ${cluster.masterUrl}
  agents:     ${agentUrls}
  isolation:  ${cluster.isolation.line}
  work dirs:  ${cluster.stateDir}

Try it, in another terminal:
  npx strata execute${master} --name=hello --command='echo hello from strata' --follow

Ctrl-C stops everything.`;
}

/** `strata local`: start, print where things are, run until Ctrl-C. */
export async function runLocalCluster(options: LocalClusterOptions): Promise<void> {
  const cluster = await startLocalCluster(options);
  console.log(startupMessage(cluster));
  await cluster.closed;
}
