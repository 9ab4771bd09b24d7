/**
 * `strata task log|exec|kill ID`. The task is found with the master's GET_STATE; everything else
 * goes to the agent that runs it, through its public APIs:
 * - log: the agent operator API's READ_FILE on the task's sandbox (`stdout` / `stderr`), polled
 *   while `--follow` and the task is live;
 * - exec: LAUNCH_NESTED_CONTAINER_SESSION under the task's container (output streamed back as
 *   ProcessIO), ATTACH_CONTAINER_INPUT for stdin (a TTY when stdin is one), WAIT_NESTED_CONTAINER
 *   for the exit status;
 * - kill: Mesos has no operator "kill task" call, and KILL on the scheduler API belongs to the
 *   task's framework. The public path an operator has is the agent's KILL_CONTAINER with SIGTERM:
 *   on a command task's executor container the command executor takes SIGTERM as a shutdown (the
 *   task is killed with its grace period and ends TASK_KILLED); on a task-group task it signals
 *   that task's nested container (the default executor then applies the group policy).
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { Command } from 'commander';
import { codec } from '../wire/codec.js';
import {
  CallSchema as AgentCallSchema,
  Call_Type as AgentCallType,
  Call_AttachContainerInput_Type,
  type ProcessIO,
  ProcessIO_Control_Type,
  ProcessIO_Data_Type,
  ProcessIO_Type,
  ProcessIOSchema,
} from '../wire/gen/mesos/v1/agent/agent_pb.js';
import {
  type ContainerID,
  ContainerIDSchema,
  ContainerInfo_Type,
  TaskState,
} from '../wire/gen/mesos/v1/mesos_pb.js';
import { encodeRecord } from '../wire/recordio.js';
import { CliError, jsonText } from './api.js';
import { type CommonOptions, examples, masterApi, withMaster } from './options.js';
import { type LocatedTask, locateTask, TERMINAL_STATES, tail } from './sandbox.js';

const JSON_TYPE = 'application/json';

interface TaskOptions extends CommonOptions {
  framework?: string;
}

/** A shell word, quoted when it needs to be. */
function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Raw wait(2) status → shell-style exit code. */
export function waitStatusToCode(status: number): number {
  const signal = status & 0x7f;
  return signal === 0 ? (status >> 8) & 0xff : 128 + signal;
}

export function registerTask(program: Command): void {
  const task = program
    .command('task')
    .description('work with one task: read its logs, run a command inside it, kill it')
    .addHelpText(
      'after',
      '\nExamples:\n  strata task log web --follow\n  strata task exec web -- ls -l\n  strata task exec web -- sh     # interactive, with a TTY\n  strata task kill web',
    );

  const log = task
    .command('log <id>')
    .description("print the task's stdout (or stderr) from its sandbox, through the agent's files API")
    .option('--stderr', 'print stderr instead of stdout')
    .option('-f, --follow', 'keep printing what the task writes until it ends (Ctrl-C to stop)')
    .option('--framework <id>', 'the framework, when several have a task with this id');
  withMaster(log);
  examples(log, ['strata task log web', 'strata task log web --stderr', 'strata task log web --follow']);
  log.action(async (id: string, opts: TaskOptions & { stderr?: boolean; follow?: boolean }) => {
    const api = masterApi(opts);
    const located = await locateTask(api, id, opts.framework);
    const file = `${located.sandbox}/${opts.stderr ? 'stderr' : 'stdout'}`;
    let terminal = located.terminal;
    let poller: NodeJS.Timeout | undefined;
    if (opts.follow && !terminal) {
      poller = setInterval(() => {
        locateTask(api, id, located.frameworkId).then(
          (now) => {
            terminal = now.terminal;
          },
          () => {
            terminal = true;
          },
        );
      }, 1000);
    }
    try {
      await tail(located.agent, file, opts.stderr ? process.stderr : process.stdout, {
        follow: opts.follow ?? false,
        stop: () => terminal,
      });
    } finally {
      clearInterval(poller);
    }
  });

  const exec = task
    .command('exec <id>')
    .description('run a command inside a running task (a TTY when stdin is a terminal)')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('-i, --interactive', 'send stdin to the command even when it is not a terminal')
    .option('-t, --tty', 'ask for a TTY even when stdin is not a terminal')
    .option('--framework <id>', 'the framework, when several have a task with this id');
  withMaster(exec);
  examples(exec, ['strata task exec web -- cat /etc/hostname', 'strata task exec web -- sh']);
  exec.action(
    async (id: string, command: string[], opts: TaskOptions & { interactive?: boolean; tty?: boolean }) => {
      const located = await locateTask(masterApi(opts), id, opts.framework);
      process.exitCode = await runExec(located, command, {
        tty: opts.tty ?? Boolean(process.stdin.isTTY && process.stdout.isTTY),
        interactive: opts.interactive ?? Boolean(process.stdin.isTTY),
      });
    },
  );

  const kill = task
    .command('kill <id>')
    .description(
      "kill a task: SIGTERM to its container through the agent's KILL_CONTAINER, then wait for it to end",
    )
    .option('--signal <n>', 'signal number to send instead of SIGTERM (15)', '15')
    .option('--timeout <secs>', 'how long to wait for the task to end', '30')
    .option('--no-wait', 'return once the signal is sent')
    .option('--framework <id>', 'the framework, when several have a task with this id')
    .option('--json', 'print the final state as JSON');
  withMaster(kill);
  examples(kill, ['strata task kill web', 'strata task kill web --signal 9']);
  kill.action(async (id: string, opts: TaskOptions & { signal: string; timeout: string; wait: boolean }) => {
    const api = masterApi(opts);
    const located = await locateTask(api, id, opts.framework);
    if (located.terminal)
      throw new CliError(`task '${id}' has already ended (${TaskState[located.task.state ?? 0]})`);
    const container = killTarget(located);
    const signal = Number(opts.signal);
    if (!Number.isInteger(signal) || signal <= 0 || signal > 64)
      throw new CliError(`--signal must be a signal number, got '${opts.signal}'`, 2);
    await located.agent.call(
      { type: AgentCallType.KILL_CONTAINER, killContainer: { containerId: container, signal } },
      `the agent refused to kill task '${id}'`,
    );
    let state = located.task.state ?? TaskState.TASK_RUNNING;
    if (opts.wait) {
      const deadline = Date.now() + Number(opts.timeout) * 1000;
      while (!TERMINAL_STATES.has(state) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        state = (await locateTask(api, id, located.frameworkId)).task.state ?? state;
      }
      if (!TERMINAL_STATES.has(state))
        throw new CliError(`task '${id}' is still ${TaskState[state]} after ${opts.timeout}s`);
    }
    if (opts.json) console.log(jsonText({ id, framework_id: located.frameworkId, state: TaskState[state] }));
    else console.log(opts.wait ? `Task ${id} is ${TaskState[state]}` : `Sent signal ${signal} to task ${id}`);
  });
}

function killTarget(located: LocatedTask): ContainerID {
  if (!located.containerId)
    throw new CliError(
      `task '${located.taskId}' has no container yet (it is ${TaskState[located.task.state ?? 0]}); try again`,
    );
  return located.containerId;
}

/** The exec session; resolves with the command's exit code. */
export async function runExec(
  located: LocatedTask,
  command: string[],
  options: { tty: boolean; interactive: boolean },
): Promise<number> {
  if (located.terminal)
    throw new CliError(`task '${located.taskId}' is not running (${TaskState[located.task.state ?? 0]})`);
  const parent = killTarget(located);
  if (command.length === 0) throw new CliError('give the command to run after --', 2);
  const id = create(ContainerIDSchema, { value: randomUUID(), parent });
  const rows = process.stdout.rows ?? 24;
  const columns = process.stdout.columns ?? 80;
  const session = await located.agent.stream(
    {
      type: AgentCallType.LAUNCH_NESTED_CONTAINER_SESSION,
      launchNestedContainerSession: {
        containerId: id,
        command: { shell: true, value: command.map(shellQuote).join(' ') },
        ...(options.tty
          ? { container: { type: ContainerInfo_Type.MESOS, ttyInfo: { windowSize: { rows, columns } } } }
          : {}),
      },
    },
    ProcessIOSchema,
    (record: ProcessIO) => {
      if (record.type !== ProcessIO_Type.DATA || !record.data) return;
      const out = record.data.type === ProcessIO_Data_Type.STDERR ? process.stderr : process.stdout;
      out.write(record.data.data);
    },
    `cannot run a command in task '${located.taskId}'`,
  );
  const input = options.interactive || options.tty ? attachInput(located, id, options.tty) : undefined;
  const interrupt = () => session.abort();
  if (!options.tty) process.once('SIGINT', interrupt);
  try {
    await session.ended;
  } finally {
    process.off('SIGINT', interrupt);
    input?.close();
  }
  const waited = await located.agent.call(
    { type: AgentCallType.WAIT_NESTED_CONTAINER, waitNestedContainer: { containerId: id } },
    'cannot learn the exit status',
  );
  return waitStatusToCode(waited?.waitNestedContainer?.exitStatus ?? 0);
}

/** ATTACH_CONTAINER_INPUT: stdin (raw when a TTY) and window sizes, as a RecordIO request body. */
function attachInput(located: LocatedTask, id: ContainerID, tty: boolean): { close: () => void } {
  const record = (init: MessageInitShape<typeof AgentCallSchema>) =>
    encodeRecord(codec.encode(AgentCallSchema, create(AgentCallSchema, init), JSON_TYPE));
  const io = (processIo: MessageInitShape<typeof ProcessIOSchema>) =>
    record({
      type: AgentCallType.ATTACH_CONTAINER_INPUT,
      attachContainerInput: { type: Call_AttachContainerInput_Type.PROCESS_IO, processIo },
    });
  const req = request(`${located.agent.url}/api/v1`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/recordio', 'Message-Content-Type': JSON_TYPE, Accept: JSON_TYPE },
  });
  req.on('error', () => {});
  req.on('response', (res) => res.resume());
  req.write(
    record({
      type: AgentCallType.ATTACH_CONTAINER_INPUT,
      attachContainerInput: { type: Call_AttachContainerInput_Type.CONTAINER_ID, containerId: id },
    }),
  );
  const stdin = process.stdin;
  const onData = (chunk: Buffer) =>
    req.write(io({ type: ProcessIO_Type.DATA, data: { type: ProcessIO_Data_Type.STDIN, data: chunk } }));
  const onEnd = () => {
    req.write(
      io({
        type: ProcessIO_Type.DATA,
        data: { type: ProcessIO_Data_Type.STDIN, data: tty ? Buffer.from('\x04') : new Uint8Array() },
      }),
    );
    req.end();
  };
  const onResize = () =>
    req.write(
      io({
        type: ProcessIO_Type.CONTROL,
        control: {
          type: ProcessIO_Control_Type.TTY_INFO,
          ttyInfo: { windowSize: { rows: process.stdout.rows ?? 24, columns: process.stdout.columns ?? 80 } },
        },
      }),
    );
  if (tty && stdin.isTTY) stdin.setRawMode(true);
  stdin.on('data', onData);
  stdin.once('end', onEnd);
  if (tty) process.stdout.on('resize', onResize);
  return {
    close: () => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      process.stdout.off('resize', onResize);
      if (tty && stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
      req.destroy();
    },
  };
}
