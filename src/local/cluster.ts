/**
 * The one-command local cluster behind `npm start` / `strata local`: a master and N agents on
 * loopback in this process (executors are still their own processes), work directories under the
 * per-user state directory, and a clean stop on Ctrl-C: executors shut down, nothing left running.
 */
import { join } from 'node:path';
import { agentFlags } from '../agent/flags.js';
import type { RunningAgent } from '../agent/process.js';
import { detectedAmounts, probeMachine } from '../agent/resources.js';
import { bestIsolation, type HostReport } from '../common/host.js';
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
  /** Tests turn off SIGINT/SIGTERM handling and drive `close()` themselves. */
  installSignalHandlers?: boolean;
}

export interface LocalCluster {
  master: RunningMaster;
  agents: RunningAgent[];
  masterUrl: string;
  close(): Promise<void>;
  closed: Promise<void>;
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
  const agents: RunningAgent[] = [];
  try {
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
      ];
      agents.push(await startAgent(parseOptions(agentFlags, flags).values, { installSignalHandlers: false }));
    }
  } catch (err) {
    for (const agent of agents) await agent.close();
    await master.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await Promise.all(agents.map((agent) => agent.close()));
      await master.close();
    })();
    return closing;
  };
  if (options.installSignalHandlers !== false) {
    const onSignal = () => {
      console.log('\nStopping: shutting down executors, agents and the master...');
      void close().then(() => console.log('Stopped.'));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  const closed = (async () => {
    await master.closed;
  })();
  return { master, agents, masterUrl: `http://127.0.0.1:${master.address.port}`, close, closed };
}

/** `strata local`: start, print where things are, run until Ctrl-C. */
export async function runLocalCluster(options: LocalClusterOptions): Promise<void> {
  const cluster = await startLocalCluster(options);
  const isolation = bestIsolation(options.host);
  const agentUrls = cluster.agents.map((a) => `http://127.0.0.1:${a.address.port}`).join(', ');
  console.log(`Strata local cluster is up.
  master:  ${cluster.masterUrl}   (state: ${cluster.masterUrl}/master/state)
  agents:  ${agentUrls}
  isolation: posix (plain processes); this host could offer ${isolation.reason}
  work directories: ${options.stateDir ?? join(userStateDir(), 'local')}

Try it (a Mesos framework, here plain curl):
  curl -sN -H 'Content-Type: application/json' -d '{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"demo"}}}' ${cluster.masterUrl}/api/v1/scheduler

Ctrl-C stops everything.`);
  await cluster.closed;
}
