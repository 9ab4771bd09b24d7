/**
 * `strata execute`: Mesos' `mesos-execute`, a real framework on `/api/v1/scheduler`. It subscribes,
 * launches the task (or N copies, or a task group with the default executor) on offers that fit,
 * acknowledges every update, optionally streams the sandbox's stdout/stderr through the agent's
 * files API, tears its framework down when every task has ended, and exits with the task's exit
 * status (parsed from the executor's `Command exited with status N` message).
 */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { parseDuration } from '../common/units.js';
import { parseResources } from '../resources/flags.js';
import { resourcesToMessages } from '../resources/messages.js';
import { Call_Type as MasterCallType } from '../wire/gen/mesos/v1/master/master_pb.js';
import {
  ContainerInfo_Type,
  ExecutorInfo_Type,
  FrameworkInfo_Capability_Type,
  Image_Type,
  type Offer,
  Offer_Operation_Type,
  type Offer_OperationSchema,
  type Resource,
  type TaskGroupInfo,
  TaskGroupInfoSchema,
  type TaskInfo,
  TaskInfoSchema,
  TaskState,
  type TaskStatus,
  VolumeSchema,
} from '../wire/gen/mesos/v1/mesos_pb.js';
import { Call_Type, type Event, Event_Type } from '../wire/gen/mesos/v1/scheduler/scheduler_pb.js';
import type { JsonValue } from '../wire/json-text.js';
import { fromMesosJson } from '../wire/mesos-json.js';
import { AgentApi, agentUrlFromPid, CliError, jsonText, MasterApi, masterUrl } from './api.js';
import { amounts } from './format.js';
import { camelOptions, examples, parseCount, withMaster } from './options.js';
import { TERMINAL_STATES, tail } from './sandbox.js';
import { SchedulerClient } from './scheduler.js';

export interface ExecuteOptions {
  master?: string;
  json?: boolean;
  name: string;
  command?: string;
  shell: boolean | string;
  dockerImage?: string;
  resources: string;
  role: string;
  env: string[];
  volumes?: string;
  taskGroup?: string;
  checkpoint?: boolean;
  frameworkCapabilities?: string;
  frameworkName?: string;
  killAfter?: string;
  count: number;
  follow?: boolean;
  user?: string;
}

const SIGNALS: Record<string, number> = {
  Hangup: 1,
  Interrupt: 2,
  Quit: 3,
  'Illegal instruction': 4,
  Aborted: 6,
  'Floating point exception': 8,
  Killed: 9,
  'User defined signal 1': 10,
  'Segmentation fault': 11,
  'User defined signal 2': 12,
  'Broken pipe': 13,
  'Alarm clock': 14,
  Terminated: 15,
};

/**
 * The process exit status a task's terminal update stands for. v1 TaskStatus has no exit code: the
 * built-in executors write `Command exited with status N` or `Command terminated with signal
 * <strsignal>` in the message (reference §3.4), which gives N, or 128 + the signal number as a
 * shell does. FINISHED is 0; KILLED without such a message 143 (SIGTERM); anything else 1.
 */
export function exitStatusOf(state: TaskState, message: string | undefined): number {
  if (state === TaskState.TASK_FINISHED) return 0;
  const exited = /exited with status (\d+)/.exec(message ?? '');
  if (exited) return Number(exited[1]) || 1;
  const signalled = /terminated with signal (.+?)\s*$/.exec(message ?? '');
  if (signalled) {
    const number = SIGNALS[signalled[1]!] ?? /(\d+)$/.exec(signalled[1]!)?.[1];
    return number !== undefined ? 128 + Number(number) : 137;
  }
  if (state === TaskState.TASK_KILLED) return 143;
  return 1;
}

function parseEnv(entries: string[]): { name: string; value: string }[] {
  const out: { name: string; value: string }[] = [];
  for (const entry of entries) {
    if (entry.trim().startsWith('{')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(entry);
      } catch (err) {
        throw new CliError(`--env: not valid JSON: ${(err as Error).message}`, 2);
      }
      for (const [name, value] of Object.entries(parsed as Record<string, unknown>))
        out.push({ name, value: String(value) });
      continue;
    }
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new CliError(`--env: expected NAME=VALUE or a JSON object, got '${entry}'`, 2);
    out.push({ name: entry.slice(0, eq), value: entry.slice(eq + 1) });
  }
  return out;
}

function parseJsonFlag(flag: string, text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch (err) {
    throw new CliError(`${flag}: not valid JSON: ${(err as Error).message}`, 2);
  }
}

function parseCapabilities(text: string | undefined): FrameworkInfo_Capability_Type[] {
  const names = (text ?? '')
    .split(/[,\s]+/)
    .map((n) => n.trim().toUpperCase())
    .filter((n) => n !== '');
  const out = new Set<FrameworkInfo_Capability_Type>([FrameworkInfo_Capability_Type.MULTI_ROLE]);
  for (const name of names) {
    const value = (FrameworkInfo_Capability_Type as unknown as Record<string, number>)[name];
    if (value === undefined || name === 'UNKNOWN')
      throw new CliError(
        `--framework_capabilities: unknown capability '${name}' (known: ${Object.keys(
          FrameworkInfo_Capability_Type,
        )
          .filter((k) => Number.isNaN(Number(k)) && k !== 'UNKNOWN')
          .join(', ')})`,
        2,
      );
    out.add(value);
  }
  return [...out];
}

/** What will be launched, built once from the flags (agent ids are filled in per offer). */
interface Plan {
  /** Command tasks (one per copy), or undefined for a task group. */
  tasks?: TaskInfo[];
  group?: TaskGroupInfo;
  executorResources: Resource[];
  needs: ReturnType<typeof amounts>;
}

export function buildPlan(opts: ExecuteOptions): Plan {
  let resources: Resource[];
  try {
    resources = resourcesToMessages(parseResources(opts.resources));
  } catch (err) {
    throw new CliError(`--resources: ${(err as Error).message}`, 2);
  }
  if (opts.taskGroup !== undefined) {
    if (opts.command !== undefined)
      throw new CliError('--command and --task_group cannot be used together', 2);
    let text: string;
    try {
      text = readFileSync(opts.taskGroup, 'utf8');
    } catch (err) {
      throw new CliError(
        `--task_group: cannot read ${opts.taskGroup}: ${(err as NodeJS.ErrnoException).code ?? err}`,
        2,
      );
    }
    const json = parseJsonFlag('--task_group', text) as { tasks?: Record<string, JsonValue>[] };
    if (!json || typeof json !== 'object' || !Array.isArray(json.tasks) || json.tasks.length === 0)
      throw new CliError(
        '--task_group: expected a TaskGroupInfo, {"tasks": [ ... ]} with at least one task',
        2,
      );
    json.tasks = json.tasks.map((task, i) => ({
      ...task,
      task_id: task.task_id ?? { value: `${String(task.name ?? opts.name)}-${i}` },
      agent_id: { value: 'to-be-set' },
    }));
    let group: TaskGroupInfo;
    try {
      group = fromMesosJson(TaskGroupInfoSchema, json as unknown as JsonValue);
    } catch (err) {
      throw new CliError(`--task_group: ${(err as Error).message}`, 2);
    }
    const executorResources = resourcesToMessages(parseResources('cpus:0.1;mem:32;disk:32'));
    const needs = amounts([...executorResources, ...group.tasks.flatMap((t) => t.resources)]);
    return { group, executorResources, needs };
  }
  if (opts.command === undefined) throw new CliError('give --command (or --task_group=FILE)', 2);
  const shell = opts.shell !== false && opts.shell !== 'false';
  const words = opts.command.split(/\s+/).filter((w) => w !== '');
  const env = parseEnv(opts.env);
  const volumes =
    opts.volumes === undefined
      ? []
      : (() => {
          const json = parseJsonFlag('--volumes', opts.volumes);
          if (!Array.isArray(json))
            throw new CliError('--volumes: expected a JSON array of Volume objects', 2);
          try {
            return json.map((v) => fromMesosJson(VolumeSchema, v));
          } catch (err) {
            throw new CliError(`--volumes: ${(err as Error).message}`, 2);
          }
        })();
  const container =
    opts.dockerImage !== undefined || volumes.length > 0
      ? {
          type: ContainerInfo_Type.MESOS,
          volumes,
          ...(opts.dockerImage !== undefined
            ? { mesos: { image: { type: Image_Type.DOCKER, docker: { name: opts.dockerImage } } } }
            : {}),
        }
      : undefined;
  const tasks: TaskInfo[] = [];
  for (let i = 0; i < opts.count; i++) {
    const id = opts.count === 1 ? opts.name : `${opts.name}-${i}`;
    const init: MessageInitShape<typeof TaskInfoSchema> = {
      name: opts.name,
      taskId: { value: id },
      agentId: { value: '' },
      resources,
      command: {
        shell,
        value: shell ? opts.command : (words[0] ?? ''),
        ...(shell ? {} : { arguments: words }),
        ...(env.length ? { environment: { variables: env } } : {}),
      },
      ...(container ? { container } : {}),
    };
    tasks.push(create(TaskInfoSchema, init));
  }
  return { tasks, executorResources: [], needs: amounts(resources) };
}

function fits(offer: Offer, needs: ReturnType<typeof amounts>): boolean {
  const have = amounts(offer.resources);
  return (
    have.cpus >= needs.cpus && have.mem >= needs.mem && have.disk >= needs.disk && have.gpus >= needs.gpus
  );
}

export function registerExecute(program: Command): void {
  const cmd = program
    .command('execute')
    .description('run a command (or a task group) on the cluster as a framework, and exit with its status')
    .option('--name <name>', 'task name (and id; copies get -0, -1, ...)', 'strata-execute')
    .option('--command <cmd>', 'the command to run')
    .option('--shell [bool]', 'run the command with /bin/sh -c (--shell=false: exec its words)', true)
    .option('--docker_image <image>', 'run in a container from this Docker image (Mesos containerizer)')
    .option('--resources <resources>', 'per task, Mesos syntax', 'cpus:0.1;mem:32')
    .option('--role <role>', 'the role to run as', '*')
    .option(
      '--env <NAME=VALUE|JSON>',
      'environment variable, repeatable, or a JSON object',
      (v, all: string[]) => [...all, v],
      [],
    )
    .option('--volumes <json>', 'JSON array of Volume objects ({"container_path","host_path","mode"})')
    .option('--task_group <file>', 'launch the TaskGroupInfo in this JSON file with the default executor')
    .option('--checkpoint', 'checkpoint the framework (tasks survive an agent restart)')
    .option('--framework_capabilities <list>', 'extra FrameworkInfo capabilities, comma separated')
    .option('--framework_name <name>', 'the framework name', 'strata-execute')
    .option('--kill_after <duration>', 'kill the task after this long (10secs, 2mins)')
    .option('--count <n>', 'launch this many copies', parseCount('--count', 1), 1)
    .option('--follow', "stream the task's stdout and stderr while it runs")
    .option('--user <user>', 'run as this user (default: you)')
    .option('--json', 'print a JSON summary of the tasks at the end');
  withMaster(cmd);
  examples(cmd, [
    "strata execute --command 'echo hello; exit 3'; echo $?         # prints 3",
    "strata execute --name web --command 'python3 -m http.server 8080' --resources 'cpus:0.5;mem:128'",
    "strata execute --count 3 --command 'hostname' --follow",
    "strata execute --docker_image alpine --command 'cat /etc/os-release' --follow",
    'strata execute --task_group group.json',
  ]);
  cmd.action(async (raw: Record<string, unknown>) => {
    process.exitCode = await runExecute(camelOptions<ExecuteOptions>(raw));
  });
}

interface TaskRecord {
  id: string;
  agentId: string;
  state: TaskState;
  message: string;
  follow?: Promise<void>;
  killArmed?: boolean;
  status?: TaskStatus;
}

export async function runExecute(opts: ExecuteOptions): Promise<number> {
  const url = masterUrl(opts.master);
  const plan = buildPlan(opts);
  const killAfterMs = opts.killAfter === undefined ? undefined : parseDuration(opts.killAfter);
  if (opts.killAfter !== undefined && (killAfterMs === undefined || killAfterMs < 0))
    throw new CliError(`--kill_after: '${opts.killAfter}' is not a duration (10secs, 2mins, 500ms)`, 2);
  const capabilities = parseCapabilities(opts.frameworkCapabilities);
  const log = (line: string) => {
    if (!opts.json) process.stderr.write(`${line}\n`);
  };

  const toLaunch = plan.tasks ? plan.tasks.length : plan.group!.tasks.length;
  const records = new Map<string, TaskRecord>();
  let launched = false;
  let finish: (code: number) => void = () => {};
  let fail: (err: Error) => void = () => {};
  const done = new Promise<number>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const scheduler = new SchedulerClient(url);
  const master = new MasterApi(url);
  const agentUrls = new Map<string, Promise<AgentApi>>();
  const agentFor = (agentId: string) => {
    let agent = agentUrls.get(agentId);
    if (!agent) {
      agent = master.get({ type: MasterCallType.GET_AGENTS }).then((r) => {
        const a = r.getAgents?.agents.find((x) => x.agentInfo?.id?.value === agentId);
        if (!a) throw new CliError(`agent ${agentId} is not registered`);
        return new AgentApi(agentUrlFromPid(a.pid, a.agentInfo?.hostname ?? '', a.agentInfo?.port ?? 5051));
      });
      agentUrls.set(agentId, agent);
    }
    return agent;
  };

  const progress =
    process.stderr.isTTY && !opts.json && !opts.follow
      ? new SingleBar({
          stream: process.stderr,
          format: 'tasks [{bar}] {value}/{total} running  {phase}',
          hideCursor: true,
          clearOnComplete: true,
        })
      : undefined;
  progress?.start(toLaunch, 0, { phase: 'waiting for offers' });
  const updateProgress = (phase: string) => {
    const running = [...records.values()].filter(
      (r) => r.state === TaskState.TASK_RUNNING || TERMINAL_STATES.has(r.state),
    ).length;
    progress?.update(running, { phase });
  };

  const allEnded = () =>
    records.size === toLaunch && [...records.values()].every((r) => TERMINAL_STATES.has(r.state));

  const startFollow = (record: TaskRecord) => {
    if (!opts.follow || record.follow) return;
    const containerId = record.status?.containerStatus?.containerId;
    const executorId = plan.group ? `default-executor` : record.id;
    let sandbox = `/frameworks/${scheduler.frameworkId}/executors/${executorId}/runs/latest`;
    if (containerId?.parent) sandbox += `/containers/${containerId.value}`;
    record.follow = agentFor(record.agentId).then((agent) => {
      const stop = () => TERMINAL_STATES.has(record.state);
      return Promise.all([
        tail(agent, `${sandbox}/stdout`, process.stdout, { follow: true, stop }),
        tail(agent, `${sandbox}/stderr`, process.stderr, { follow: true, stop }),
      ]).then(() => undefined);
    });
    record.follow.catch((err) => log(`strata: cannot follow task ${record.id}: ${(err as Error).message}`));
  };

  const killTimers: NodeJS.Timeout[] = [];
  /** `--kill_after` counts from the moment the task runs, as in mesos-execute. */
  const armKill = (record: TaskRecord) => {
    if (killAfterMs === undefined || record.killArmed) return;
    record.killArmed = true;
    killTimers.push(
      setTimeout(() => {
        if (TERMINAL_STATES.has(record.state)) return;
        log(`Killing task ${record.id} after ${opts.killAfter}`);
        scheduler
          .call({
            type: Call_Type.KILL,
            kill: { taskId: { value: record.id }, agentId: { value: record.agentId } },
          })
          .catch((err) => fail(err as Error));
      }, killAfterMs),
    );
  };
  const onUpdate = async (status: TaskStatus) => {
    const id = status.taskId?.value ?? '';
    const record = records.get(id) ?? {
      id,
      agentId: status.agentId?.value ?? '',
      state: status.state,
      message: '',
    };
    records.set(id, record);
    record.state = status.state;
    record.message = status.message ?? '';
    if (status.containerStatus?.containerId) record.status = status;
    if (status.uuid.length > 0 && status.agentId)
      await scheduler.call({
        type: Call_Type.ACKNOWLEDGE,
        acknowledge: { agentId: status.agentId, taskId: status.taskId!, uuid: status.uuid },
      });
    const stateName = TaskState[status.state] ?? String(status.state);
    log(`Task ${id} is ${stateName}${status.message ? `: ${status.message}` : ''}`);
    // While an agent pulls the image its TASK_STARTING messages say how far ("Pulling image
    // busybox: 3.2/5.1 MB"): the bar shows them.
    updateProgress(status.state === TaskState.TASK_STARTING && status.message ? status.message : stateName);
    if (status.state === TaskState.TASK_RUNNING) armKill(record);
    if (status.state === TaskState.TASK_RUNNING || TERMINAL_STATES.has(status.state)) startFollow(record);
    if (allEnded()) {
      await Promise.all([...records.values()].map((r) => r.follow?.catch(() => undefined)));
      const codes = [...records.values()].map((r) => exitStatusOf(r.state, r.message));
      finish(codes.find((c) => c !== 0) ?? 0);
    }
  };

  const onOffers = async (offers: Offer[]) => {
    for (const offer of offers) {
      if (launched || !fits(offer, plan.needs)) {
        await scheduler.call({
          type: Call_Type.DECLINE,
          decline: { offerIds: [offer.id!], filters: { refuseSeconds: launched ? 3600 : 1 } },
        });
        continue;
      }
      launched = true;
      const agentId = offer.agentId!;
      let operation: MessageInitShape<typeof Offer_OperationSchema>;
      let ids: string[];
      if (plan.tasks) {
        // Copies go where they fit; the first offer that fits one takes as many as it can.
        const have = amounts(offer.resources);
        const taskInfos: TaskInfo[] = [];
        for (const task of plan.tasks) {
          if (records.has(task.taskId!.value)) continue;
          if (have.cpus < plan.needs.cpus || have.mem < plan.needs.mem || have.disk < plan.needs.disk) break;
          have.cpus -= plan.needs.cpus;
          have.mem -= plan.needs.mem;
          have.disk -= plan.needs.disk;
          taskInfos.push(create(TaskInfoSchema, { ...task, agentId }));
        }
        ids = taskInfos.map((t) => t.taskId!.value);
        operation = { type: Offer_Operation_Type.LAUNCH, launch: { taskInfos } };
      } else {
        const group = plan.group!;
        ids = group.tasks.map((t) => t.taskId!.value);
        operation = {
          type: Offer_Operation_Type.LAUNCH_GROUP,
          launchGroup: {
            executor: {
              type: ExecutorInfo_Type.DEFAULT,
              executorId: { value: 'default-executor' },
              frameworkId: { value: scheduler.frameworkId },
              resources: plan.executorResources,
              container: { type: ContainerInfo_Type.MESOS },
            },
            taskGroup: { tasks: group.tasks.map((t) => ({ ...t, agentId })) },
          },
        };
      }
      for (const id of ids)
        records.set(id, { id, agentId: agentId.value, state: TaskState.TASK_STAGING, message: '' });
      if (records.size < toLaunch) launched = false;
      await scheduler.call({
        type: Call_Type.ACCEPT,
        accept: { offerIds: [offer.id!], operations: [operation] },
      });
      log(
        `Submitted ${ids.length === 1 ? `task ${ids[0]}` : `tasks ${ids.join(', ')}`} to agent ${offer.hostname} (${agentId.value})`,
      );
      updateProgress('launching');
      if (launched) await scheduler.call({ type: Call_Type.SUPPRESS, suppress: {} });
    }
  };

  // Events are handled one at a time, in order.
  let queue = Promise.resolve();
  const onEvent = (event: Event) => {
    queue = queue
      .then(async () => {
        switch (event.type) {
          case Event_Type.OFFERS:
            return onOffers(event.offers?.offers ?? []);
          case Event_Type.UPDATE:
            return event.update?.status ? onUpdate(event.update.status) : undefined;
          case Event_Type.ERROR:
            return fail(new CliError(`the master ended the framework: ${event.error?.message ?? ''}`));
          default:
            return undefined;
        }
      })
      .catch((err) => fail(err as Error));
  };

  const frameworkId = await scheduler.subscribe(
    {
      user: opts.user ?? userInfo().username,
      name: opts.frameworkName ?? 'strata-execute',
      roles: [opts.role],
      checkpoint: opts.checkpoint ?? false,
      capabilities: capabilities.map((type) => ({ type })),
    },
    onEvent,
  );
  log(`Subscribed as framework ${frameworkId}`);
  void scheduler.ended.then(() => fail(new CliError('the master closed the framework stream')));

  const killAll = async () => {
    for (const record of records.values())
      if (!TERMINAL_STATES.has(record.state))
        await scheduler.call({
          type: Call_Type.KILL,
          kill: { taskId: { value: record.id }, agentId: { value: record.agentId } },
        });
  };
  let interrupted = 0;
  const onSignal = () => {
    interrupted++;
    if (interrupted === 1) {
      log('Killing the task (Ctrl-C again to leave it and tear the framework down)');
      void killAll().catch((err) => fail(err as Error));
    } else finish(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let code: number;
  try {
    code = await done;
  } finally {
    for (const timer of killTimers) clearTimeout(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    progress?.stop();
    try {
      await scheduler.call({ type: Call_Type.TEARDOWN });
    } catch {
      // the stream is gone already: the master removes the framework on its own (failover_timeout 0)
    }
    scheduler.close();
  }
  if (opts.json) {
    console.log(
      jsonText({
        framework_id: frameworkId,
        exit_status: code,
        tasks: [...records.values()].map((r) => ({
          id: r.id,
          agent_id: r.agentId,
          state: TaskState[r.state],
          message: r.message,
          exit_status: exitStatusOf(r.state, r.message),
        })),
      }),
    );
  }
  return code;
}
