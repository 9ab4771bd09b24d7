/**
 * namespaces/pid (own pid namespace: the executor is pid 1 there, a fresh /proc shows nothing of
 * the host), namespaces/ipc (own IPC namespace and /dev/shm), namespaces/uts (own hostname,
 * kept equal to the agent's). The mount namespace is always new (the runtime pivots into the
 * root); the network stays the host's (per-container networks are separate work).
 */
import { hostname } from 'node:os';
import type { LaunchInfo } from '../runtime/oci-spec.js';
import type { ContainerConfig, Isolator } from './isolator.js';

export class PidNamespaceIsolator implements Isolator {
  readonly name = 'namespaces/pid';
  async prepare(config: ContainerConfig): Promise<LaunchInfo> {
    // With an image, filesystem/linux mounts /proc in the rootfs; on the host's root it is ours.
    return {
      namespaces: ['pid'],
      ...(config.rootfs
        ? {}
        : {
            mounts: [
              { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
            ],
          }),
    };
  }
  async cleanup(): Promise<void> {}
}

export class IpcNamespaceIsolator implements Isolator {
  readonly name = 'namespaces/ipc';
  async prepare(config: ContainerConfig): Promise<LaunchInfo> {
    return {
      namespaces: ['ipc'],
      ...(config.rootfs
        ? {}
        : {
            mounts: [
              {
                destination: '/dev/shm',
                type: 'tmpfs',
                source: 'shm',
                options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
              },
            ],
          }),
    };
  }
  async cleanup(): Promise<void> {}
}

export class UtsNamespaceIsolator implements Isolator {
  readonly name = 'namespaces/uts';
  async prepare(): Promise<LaunchInfo> {
    return { namespaces: ['uts'], hostname: hostname() };
  }
  async cleanup(): Promise<void> {}
}
