/** What a puller (registry or local archive) hands the store: verified metadata and layer streams. */
import type { Readable } from 'node:stream';
import type { Compression } from './manifest.js';
import type { ImageReference } from './reference.js';

export interface LayerSource {
  /** Digest of the blob as stored (compressed); undefined when the source has none (docker-archive). */
  readonly digest: string | undefined;
  readonly size: number | undefined;
  readonly compression: Compression | 'sniff';
  /** A fresh stream of the blob each call (retries reopen). */
  open(signal?: AbortSignal): Promise<Readable>;
}

export interface ResolvedImage {
  /** Canonical reference text, for messages. */
  readonly image: string;
  /** Digest of the (platform) manifest; undefined for docker-archive, which has none. */
  readonly manifestDigest: string | undefined;
  readonly manifestBytes: Buffer | undefined;
  /** Verified: sha256(configBytes) === configDigest. */
  readonly configDigest: string;
  readonly configBytes: Buffer;
  /** Bottom → top. */
  readonly layers: readonly LayerSource[];
}

export interface ImageSource {
  resolve(ref: ImageReference & { registry: string }, signal?: AbortSignal): Promise<ResolvedImage>;
}
