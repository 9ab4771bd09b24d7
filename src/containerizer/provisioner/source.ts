/** What a puller (registry or local archive) hands the store: verified metadata and layer streams. */
import type { Readable } from 'node:stream';
import type { Compression } from './manifest.js';
import type { ImageReference } from './reference.js';

export interface LayerSource {
  /** Digest of the blob as stored (compressed); undefined when the source has none (docker-archive). */
  readonly digest: string | undefined;
  readonly size: number | undefined;
  readonly compression: Compression | 'sniff';
  /**
   * A fresh stream of the blob each call (retries reopen), from byte `offset` on (default 0): a
   * broken download is resumed where it broke. The stream yields the blob's bytes from `offset`
   * exactly, however the source gets them (HTTP Range, or skipping).
   */
  open(signal?: AbortSignal, offset?: number): Promise<Readable>;
  /** How often and how patiently a broken stream is reopened (the registry client's settings). */
  readonly retry?: { readonly attempts: number; readonly backoffMs: number };
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
