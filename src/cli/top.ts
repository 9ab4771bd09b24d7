/**
 * `strata top`: a live view of cluster use per agent, role and framework. It redraws after every
 * change the operator event stream reports (debounced) and every `--interval`, each time from a
 * fresh GET_STATE (and GET_ROLES), so the numbers are the master's own. `--once` prints one frame.
 */
import type { Command } from 'commander';
import { Call_Type, Event_Type } from '../wire/gen/mesos/v1/master/master_pb.js';
import { MasterApi, masterUrl } from './api.js';
import { followEvents } from './events.js';
import { amounts, bar, cpus, megabytes, table } from './format.js';
import { agentRows, frameworkRows, sumAgents } from './listings.js';
import { type CommonOptions, examples, withMaster } from './options.js';

/** One frame of text. */
export async function renderTop(api: MasterApi): Promise<string> {
  const [state, roles] = await Promise.all([api.state(), api.get({ type: Call_Type.GET_ROLES })]);
  const total = sumAgents(state);
  const agents = agentRows(state);
  const used = agents.reduce(
    (sum, a) => ({ cpus: sum.cpus + a.allocated.cpus, mem: sum.mem + a.allocated.mem }),
    { cpus: 0, mem: 0 },
  );
  const running = (state.getTasks?.tasks ?? []).length;
  const lines = [
    `strata top — ${api.url} — ${new Date().toISOString().slice(11, 19)}`,
    `cluster  cpus ${bar(used.cpus, total.cpus)} ${cpus(used.cpus)}/${cpus(total.cpus)}   mem ${bar(used.mem, total.mem)} ${megabytes(used.mem)}/${megabytes(total.mem)}   ${agents.length} agents, ${running} active tasks`,
    '',
    table(
      ['AGENT', 'HOSTNAME', 'TASKS', 'CPUS', '', 'MEM', ''],
      agents.map((a) => [
        a.id,
        a.hostname,
        a.tasks,
        bar(a.allocated.cpus, a.total.cpus, 10),
        `${cpus(a.allocated.cpus)}/${cpus(a.total.cpus)}`,
        bar(a.allocated.mem, a.total.mem, 10),
        `${megabytes(a.allocated.mem)}/${megabytes(a.total.mem)}`,
      ]),
    ),
    '',
    table(
      ['ROLE', 'WEIGHT', 'FRAMEWORKS', 'CPUS', 'MEM'],
      (roles.getRoles?.roles ?? []).map((r) => {
        const a = amounts(r.resources);
        return [
          r.name,
          r.weight,
          r.frameworks.length,
          `${cpus(a.cpus)} ${bar(a.cpus, total.cpus, 10)}`,
          megabytes(a.mem),
        ];
      }),
    ),
    '',
    table(
      ['FRAMEWORK', 'NAME', 'TASKS', 'CPUS', 'MEM'],
      frameworkRows(state).map((f) => [
        f.id,
        f.name,
        f.tasks,
        `${cpus(f.allocated.cpus)} ${bar(f.allocated.cpus, total.cpus, 10)}`,
        megabytes(f.allocated.mem),
      ]),
    ),
  ];
  return lines.join('\n');
}

export function registerTop(program: Command): void {
  const cmd = program
    .command('top')
    .description('live view of cluster use per agent, role and framework (Ctrl-C to quit)')
    .option('--interval <secs>', 'redraw at least this often', '2')
    .option('--once', 'print one frame and exit');
  withMaster(cmd);
  examples(cmd, ['strata top', 'strata top --once']);
  cmd.action(async (opts: CommonOptions & { interval: string; once?: boolean }) => {
    const api = new MasterApi(masterUrl(opts.master));
    if (opts.once) return void console.log(await renderTop(api));
    const tty = process.stdout.isTTY;
    let pending: NodeJS.Timeout | undefined;
    let drawing = false;
    const draw = async () => {
      if (drawing) return;
      drawing = true;
      try {
        const frame = await renderTop(api);
        process.stdout.write(tty ? `\x1b[2J\x1b[H${frame}\n` : `${frame}\n\n`);
      } catch (err) {
        process.stdout.write(`${tty ? '\x1b[2J\x1b[H' : ''}strata top: ${(err as Error).message}\n`);
      } finally {
        drawing = false;
      }
    };
    const soon = () => {
      pending ??= setTimeout(() => {
        pending = undefined;
        void draw();
      }, 200);
    };
    const follower = followEvents(api.url, {
      onEvent: (event) => {
        if (event.type !== Event_Type.HEARTBEAT) soon();
      },
    });
    const timer = setInterval(() => void draw(), Math.max(0.2, Number(opts.interval) || 2) * 1000);
    await draw();
    process.once('SIGINT', () => follower.stop());
    try {
      await follower.done;
    } finally {
      clearInterval(timer);
      clearTimeout(pending);
    }
  });
}
