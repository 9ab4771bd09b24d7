/**
 * Nested containers with an image of their own need an isolating agent with an image provisioner
 * (containerizer.ts `launchNestedWithImage`). Without one (posix agents) the launch is refused
 * with the reason, before anything is created; sessions, TTYs and deeper nesting with an image are
 * refused on any agent. The isolating case runs in test/system/nested-images.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { pino } from 'pino';
import { sandboxLogger } from '../../../src/agent/container-logger.js';
import { launchExecutor } from '../../../src/agent/launcher.js';
import { ContainerLaunchError, NestedContainers } from '../../../src/agent/nested-containers.js';
import {
  CommandInfoSchema,
  ContainerIDSchema,
  ContainerInfo_Type,
  ContainerInfoSchema,
  Image_Type,
} from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

const root = mkdtempSync(join(tmpdir(), 'nested-images-'));
after(() => rmSync(root, { recursive: true, force: true }));

const withImage = create(ContainerInfoSchema, {
  type: ContainerInfo_Type.MESOS,
  mesos: { image: { type: Image_Type.DOCKER, docker: { name: 'busybox' } } },
});
const command = create(CommandInfoSchema, { value: 'true' });
const parent = create(ContainerIDSchema, { value: 'parent' });

function containers(launchWithImage?: boolean): NestedContainers {
  mkdirSync(join(root, 'parent'), { recursive: true });
  return new NestedContainers({
    launch: (spec) => launchExecutor(spec, sandboxLogger),
    log: pino({ level: 'silent' }),
    root: (id) => (id === 'parent' ? { directory: join(root, 'parent') } : undefined),
    ...(launchWithImage
      ? { launchWithImage: () => Promise.reject(new Error('not reached in these tests')) }
      : {}),
  });
}

describe('nested containers with an image', () => {
  it('a posix agent refuses them with the reason, creating nothing', async () => {
    const id = create(ContainerIDSchema, { value: 'child', parent });
    await assert.rejects(
      containers().launch(id, command, withImage),
      (err: Error) =>
        err instanceof ContainerLaunchError &&
        /Container images are not supported by this agent: .*image provisioner/.test(err.message),
    );
    assert.equal(existsSync(join(root, 'parent', 'containers', 'child')), false);
  });

  it('sessions, TTYs and containers nested deeper than an executor’s children are refused', async () => {
    const nested = containers(true);
    const id = create(ContainerIDSchema, { value: 'session', parent });
    await assert.rejects(
      nested.launch(id, command, withImage, { session: true }),
      /not supported for LAUNCH_NESTED_CONTAINER_SESSION or TTY containers/,
    );
    // A plain child first, then a grandchild with an image.
    const child = create(ContainerIDSchema, { value: 'plain', parent });
    assert.equal(
      await nested.launch(child, create(CommandInfoSchema, { value: 'sleep 5' }), undefined),
      'launched',
    );
    const grandchild = create(ContainerIDSchema, { value: 'deeper', parent: child });
    await assert.rejects(
      nested.launch(grandchild, command, withImage),
      /supported for nested containers of an executor's container only \(parent\.plain is nested\)/,
    );
    nested.kill(child, 'SIGKILL');
    await nested.wait(child);
  });
});
