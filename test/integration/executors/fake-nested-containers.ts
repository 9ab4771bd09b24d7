/**
 * The agent operator API half of a fake agent, for running the real default executor: serves
 * `/slave(1)/api/v1` on a FakeAgent's server. LAUNCH_NESTED_CONTAINER really runs the command with
 * `/bin/sh -c` (in a process group of its own, output to the sandbox), WAIT_NESTED_CONTAINER
 * answers with its raw wait status once it ends, KILL_NESTED_CONTAINER signals its process group.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import type { HttpResponse } from '../../../src/http/responses.js';
import { textResponse } from '../../../src/http/responses.js';
import { codec, MEDIA_TYPE_JSON } from '../../../src/wire/codec.js';
import {
  type Call,
  Call_Type,
  CallSchema,
  Response_Type,
  ResponseSchema,
} from '../../../src/wire/gen/mesos/v1/agent/agent_pb.js';
import { EXECUTOR_CONTAINER_ID, type FakeAgent } from './fake-agent.js';

export interface NestedContainer {
  id: string;
  command: string;
  process: ChildProcess;
  /** Raw wait status (code << 8, or the signal number), once it ended. */
  exited: Promise<number>;
  signals: number[];
}

export class FakeNestedContainers {
  readonly calls: Call[] = [];
  readonly containers = new Map<string, NestedContainer>();

  constructor(
    agent: FakeAgent,
    private readonly sandbox: string,
    /** Commands whose launch the agent refuses (400). */
    private readonly refuse: (command: string) => boolean = () => false,
  ) {
    agent.server.route('slave(1)', '/api/v1', async (request) => {
      const call = codec.decode(CallSchema, await request.body(), MEDIA_TYPE_JSON);
      this.calls.push(call);
      return this.handle(call);
    });
  }

  callTypes(): string[] {
    return this.calls.map((call) => Call_Type[call.type]);
  }

  /** SIGKILLs every process group still alive; for the tests' `after` hooks. */
  killAll(): void {
    for (const container of this.containers.values()) {
      const pid = container.process.pid;
      if (pid === undefined || container.process.exitCode !== null || container.process.signalCode !== null)
        continue;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }

  private async handle(call: Call): Promise<HttpResponse> {
    // As the agent: nested containers are always named with their parent.
    const named =
      call.launchNestedContainer?.containerId ??
      call.waitNestedContainer?.containerId ??
      call.killNestedContainer?.containerId;
    if (named?.parent?.value !== EXECUTOR_CONTAINER_ID) {
      return textResponse(400, 'container_id.parent is not the executor container');
    }
    switch (call.type) {
      case Call_Type.LAUNCH_NESTED_CONTAINER: {
        const launch = call.launchNestedContainer;
        const id = launch?.containerId?.value ?? '';
        if (this.containers.has(id)) return { status: 202 };
        const command = launch?.command?.value ?? '';
        if (this.refuse(command)) return textResponse(400, 'refused by the test');
        this.containers.set(id, await this.start(id, command));
        return { status: 200 };
      }
      case Call_Type.WAIT_NESTED_CONTAINER: {
        const container = this.containers.get(call.waitNestedContainer?.containerId?.value ?? '');
        if (container === undefined) return { status: 404 };
        const exitStatus = await container.exited;
        const response = create(ResponseSchema, {
          type: Response_Type.WAIT_NESTED_CONTAINER,
          waitNestedContainer: { exitStatus },
        });
        return {
          status: 200,
          headers: { 'Content-Type': MEDIA_TYPE_JSON },
          body: codec.encode(ResponseSchema, response, MEDIA_TYPE_JSON),
        };
      }
      case Call_Type.KILL_NESTED_CONTAINER: {
        const kill = call.killNestedContainer;
        const container = this.containers.get(kill?.containerId?.value ?? '');
        if (container === undefined) return { status: 404 };
        const signal = kill?.signal ?? osConstants.signals.SIGKILL;
        container.signals.push(signal);
        const pid = container.process.pid;
        try {
          if (pid !== undefined) process.kill(-pid, signal);
        } catch {
          // Ended meanwhile: nothing left to signal, as for the agent.
        }
        return { status: 200 };
      }
      default:
        return textResponse(400, `unexpected call ${Call_Type[call.type]}`);
    }
  }

  private start(id: string, command: string): Promise<NestedContainer> {
    const stdout = openSync(join(this.sandbox, `${id}.stdout`), 'w');
    const stderr = openSync(join(this.sandbox, `${id}.stderr`), 'w');
    const child = spawn('/bin/sh', ['-c', command], {
      cwd: this.sandbox,
      stdio: ['ignore', stdout, stderr],
      detached: true,
    });
    closeSync(stdout);
    closeSync(stderr);
    const exited = new Promise<number>((resolve) =>
      child.once('exit', (code, signal) =>
        resolve(signal === null ? (code ?? 0) << 8 : osConstants.signals[signal]),
      ),
    );
    return new Promise((resolve, reject) => {
      child.once('spawn', () => resolve({ id, command, process: child, exited, signals: [] }));
      child.once('error', reject);
    });
  }
}
