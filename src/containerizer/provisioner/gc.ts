/**
 * `--image_gc_config`: Mesos' ImageGcConfig as JSON (inline, or a file path):
 * `{"image_disk_headroom": 0.1, "image_disk_watch_interval": {"nanoseconds": 3600000000000},
 *   "excluded_images": [{"type": "DOCKER", "docker": {"name": "busybox"}}]}`.
 */
import { readFileSync } from 'node:fs';
import { fail } from '../../common/errors.js';

export interface ImageGcConfig {
  /** Fraction of the store's disk to keep free; a prune runs when less is free. */
  readonly headroom: number;
  readonly watchIntervalMs: number;
  /** Image names never collected. */
  readonly excludedImages: readonly string[];
}

export const DEFAULT_GC: ImageGcConfig = { headroom: 0.1, watchIntervalMs: 3_600_000, excludedImages: [] };

export function parseImageGcConfig(flag: string | undefined): ImageGcConfig | undefined {
  if (flag === undefined || flag.trim() === '') return undefined;
  const bad = (detail: string): never =>
    fail('PROVISIONER_CONFIG_INVALID', { flag: 'image_gc_config', detail });
  let text = flag;
  if (!flag.trim().startsWith('{')) {
    try {
      text = readFileSync(flag.replace(/^file:\/\//, ''), 'utf8');
    } catch (e) {
      bad(`cannot read ${flag}: ${(e as Error).message}`);
    }
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    bad(`not JSON (${(e as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) bad('not a JSON object');
  const o = doc as Record<string, unknown>;
  const headroom = o.image_disk_headroom ?? DEFAULT_GC.headroom;
  if (typeof headroom !== 'number' || headroom < 0 || headroom > 1)
    bad('image_disk_headroom must be a number in [0, 1]');
  let watchIntervalMs = DEFAULT_GC.watchIntervalMs;
  const interval = o.image_disk_watch_interval;
  if (interval !== undefined) {
    const ns = (interval as { nanoseconds?: unknown })?.nanoseconds;
    if (typeof ns !== 'number' || ns <= 0)
      bad('image_disk_watch_interval must be {"nanoseconds": N} with N > 0');
    watchIntervalMs = Math.max(1, Math.round((ns as number) / 1e6));
  }
  const excluded: string[] = [];
  if (o.excluded_images !== undefined) {
    if (!Array.isArray(o.excluded_images)) bad('excluded_images must be a list of images');
    for (const img of o.excluded_images as unknown[]) {
      const name = (img as { docker?: { name?: unknown } })?.docker?.name;
      if (typeof name !== 'string')
        bad('excluded_images entries need docker.name (only docker images are collected)');
      excluded.push(name as string);
    }
  }
  return { headroom: headroom as number, watchIntervalMs, excludedImages: excluded };
}

/** Whether a prune is due: less than `headroom` of the disk is free. */
export function gcDue(stats: { blocks: number; bavail: number }, headroom: number): boolean {
  if (stats.blocks <= 0) return false;
  return stats.bavail / stats.blocks < headroom;
}
