/** The agent side of images: --image_providers, pull progress messages, the image's task command. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { imageProviders } from '../../../src/containerizer/agent-wiring.js';
import { progressReporter } from '../../../src/containerizer/rootfs.js';
import { withImageCommand } from '../../../src/executors/command-executor.js';
import { TaskInfoSchema } from '../../../src/wire/gen/mesos/v1/mesos_pb.js';

describe('--image_providers', () => {
  it('accepts docker and appc (any case, duplicates), empty; refuses others', () => {
    assert.deepEqual(imageProviders(''), []);
    assert.deepEqual(imageProviders(undefined), []);
    assert.deepEqual(imageProviders('docker, DOCKER'), ['docker']);
    assert.deepEqual(imageProviders('appc'), ['appc']);
    assert.deepEqual(imageProviders('appc,docker,APPC'), ['appc', 'docker']);
    assert.throws(() => imageProviders('docker,oci'), /'oci' is not supported \(docker, appc\)/);
  });
});

describe('pull progress → TASK_STARTING messages', () => {
  it('sums the layers seen, at most one message per second, none for cached layers', () => {
    let now = 0;
    const messages: string[] = [];
    const report = progressReporter(
      (m) => messages.push(m),
      1000,
      () => now,
    );
    const image = 'r:5000/busybox:latest';
    report({ image, layer: 'a', bytes: 0, total: undefined, state: 'cached' });
    assert.deepEqual(messages, []);
    report({ image, layer: 'b', bytes: 1_000_000, total: 3_200_000, state: 'pulling' });
    report({ image, layer: 'c', bytes: 500_000, total: 1_900_000, state: 'pulling' });
    now = 999;
    report({ image, layer: 'b', bytes: 2_000_000, total: 3_200_000, state: 'pulling' });
    now = 1000;
    report({ image, layer: 'b', bytes: 2_700_000, total: 3_200_000, state: 'pulling' });
    assert.deepEqual(messages, [
      'Pulling image r:5000/busybox:latest: 1.0/3.2 MB',
      'Pulling image r:5000/busybox:latest: 3.2/5.1 MB',
    ]);
  });
  it('leaves the total out while a layer size is unknown', () => {
    const messages: string[] = [];
    progressReporter((m) => messages.push(m))({
      image: 'x',
      layer: 'a',
      bytes: 2e6,
      total: undefined,
      state: 'pulling',
    });
    assert.deepEqual(messages, ['Pulling image x: 2.0 MB']);
  });
});

describe("the image's command for a command task (STRATA_TASK_COMMAND)", () => {
  const task = (command: object) => create(TaskInfoSchema, { taskId: { value: 't' }, command });
  const env = {
    STRATA_TASK_COMMAND: JSON.stringify({
      shell: false,
      value: '/bin/sh',
      arguments: ['/bin/sh', '-c', 'x'],
    }),
  };
  it('replaces a shell=false command without a value, keeping its environment', () => {
    const t = task({ shell: false, environment: { variables: [{ name: 'A', value: 'b' }] } });
    const out = withImageCommand(t, env);
    assert.equal(out.command?.value, '/bin/sh');
    assert.deepEqual(out.command?.arguments, ['/bin/sh', '-c', 'x']);
    assert.equal(out.command?.shell, false);
    assert.equal(out.command?.environment?.variables[0]?.name, 'A');
    assert.equal(t.command?.value, '', 'the original is untouched');
  });
  it('leaves shell commands, commands with a value, and a missing or broken variable alone', () => {
    const shell = task({ value: 'echo' });
    assert.equal(withImageCommand(shell, env), shell);
    const valued = task({ shell: false, value: '/bin/true' });
    assert.equal(withImageCommand(valued, env), valued);
    const bare = task({ shell: false });
    assert.equal(withImageCommand(bare, {}), bare);
    assert.equal(withImageCommand(bare, { STRATA_TASK_COMMAND: '{' }), bare);
  });
});
