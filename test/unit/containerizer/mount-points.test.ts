import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createMountPoints } from '../../../src/containerizer/rootfs.js';

describe('createMountPoints: the agent makes the mount points an image lacks', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const scratch = () => {
    const d = mkdtempSync(join(tmpdir(), 'strata-mountpoints-'));
    dirs.push(d);
    return d;
  };

  it('creates missing directories, and files for bind mounts of files; leaves what exists', () => {
    const base = scratch();
    const rootfs = join(base, 'rootfs');
    mkdirSync(join(rootfs, 'proc'), { recursive: true });
    writeFileSync(join(base, 'tini'), 'binary');
    mkdirSync(join(base, 'sandbox'));
    createMountPoints(rootfs, [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs' },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts' },
      { destination: '/mnt/mesos/sandbox', type: 'bind', source: join(base, 'sandbox') },
      { destination: '/.strata/tini', type: 'bind', source: join(base, 'tini') },
    ]);
    assert.ok(lstatSync(join(rootfs, 'mnt/mesos/sandbox')).isDirectory());
    assert.ok(lstatSync(join(rootfs, '.strata/tini')).isFile(), 'a file for a file bind');
    assert.ok(lstatSync(join(rootfs, 'dev')).isDirectory());
    assert.ok(!existsSync(join(rootfs, 'dev/pts')), 'below the /dev tmpfs: not the rootfs');
  });

  it('never creates anything through a symbolic link or below a file (the runtime resolves those)', () => {
    const base = scratch();
    const rootfs = join(base, 'rootfs');
    const outside = join(base, 'outside');
    mkdirSync(rootfs);
    mkdirSync(outside);
    symlinkSync(outside, join(rootfs, 'mnt'));
    symlinkSync('/etc', join(rootfs, 'data'));
    writeFileSync(join(rootfs, 'file'), '');
    createMountPoints(rootfs, [
      { destination: '/mnt/mesos/sandbox', type: 'bind', source: base },
      { destination: '/data/x', type: 'bind', source: base },
      { destination: '/file/below', type: 'bind', source: base },
      { destination: '/../escape', type: 'bind', source: base },
    ]);
    assert.deepEqual(readdirSync(outside), [], 'nothing created through the symlink');
    assert.ok(!existsSync('/etc/x'));
    assert.ok(!existsSync(join(base, 'escape')));
    assert.ok(lstatSync(join(rootfs, 'file')).isFile());
  });
});
