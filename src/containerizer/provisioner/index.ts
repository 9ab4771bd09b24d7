/** The provisioner's public surface (see README.md). */

export { provisionerFlags } from './flags.js';
export { type ImageGcConfig, parseImageGcConfig } from './gc.js';
export { type CommandSpec, type LaunchDescription, launchFromImage, mergeEnvironment } from './launch.js';
export { hostPlatform, type ImageConfig, type Platform } from './manifest.js';
export {
  type ContainerRef,
  type ImageSpec,
  Provisioner,
  type ProvisionerOptions,
  type ProvisionInfo,
  type ProvisionOptions,
  type PruneResult,
} from './provisioner.js';
export type { LayerProgress, ProgressListener } from './store.js';
