/**
 * Docker Registry HTTP API v2 client on Node's fetch: the full Accept list, manifest lists / OCI
 * indexes resolved to the agent's platform, Bearer token auth (challenge → token endpoint) and Basic
 * auth from `--docker_config`, redirects followed by hand (the Authorization header is dropped when
 * a redirect leaves the registry's origin, e.g. for pre-signed storage URLs), and retries with
 * exponential backoff on network errors, 429 and 5xx. Layer blobs open at an offset (`Range`), so
 * the store resumes a download that broke midway.
 */
import { createHash } from 'node:crypto';
import { pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import { fail, StrataError } from '../../common/errors.js';
import { basicHeader, type Challenge, type Credential, parseChallenges } from './auth.js';
import {
  type Descriptor,
  formatPlatform,
  layerCompression,
  MANIFEST_ACCEPT,
  type ParsedManifest,
  type Platform,
  parseManifest,
  selectPlatform,
} from './manifest.js';
import { formatReference, type ImageReference } from './reference.js';
import type { ImageSource, LayerSource, ResolvedImage } from './source.js';

export interface RegistryClientOptions {
  /** `--docker_registry` when it is a URL: the registry for names that carry no host. */
  readonly defaultRegistry: string;
  readonly credentials: ReadonlyMap<string, Credential>;
  readonly platform: Platform;
  /** Attempts per request (network errors, 429, 5xx); default 4. */
  readonly attempts?: number;
  /** First backoff in ms, doubled each retry (with jitter); default 200. */
  readonly backoffMs?: number;
  /** Hosts spoken to over plain http; loopback hosts always are. */
  readonly insecureRegistries?: readonly string[];
  readonly fetch?: typeof fetch;
  readonly userAgent?: string;
  /**
   * Per-request timeout, ms; default 30 s. Manifests and configs must arrive whole within it; a
   * layer blob must answer within it, then its body may take as long as it takes but is cut (and
   * resumed by the store) when no byte arrives for that long while it is being read.
   */
  readonly timeoutMs?: number;
}

const MAX_MANIFEST = 4 * 1024 * 1024;
const MAX_REDIRECTS = 10;

interface CachedToken {
  readonly token: string;
  readonly expires: number;
}

export class RegistryClient implements ImageSource {
  private readonly fetchFn: typeof fetch;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly tokens = new Map<string, CachedToken>();
  /** Last challenge seen per registry, so later requests authenticate up front. */
  private readonly challenges = new Map<string, Challenge>();
  private readonly defaultUrl: URL;

  constructor(private readonly options: RegistryClientOptions) {
    this.fetchFn = options.fetch ?? fetch;
    this.attempts = Math.max(1, options.attempts ?? 4);
    this.backoffMs = options.backoffMs ?? 200;
    this.defaultUrl = new URL(
      /^[a-z]+:\/\//i.test(options.defaultRegistry)
        ? options.defaultRegistry
        : `https://${options.defaultRegistry}`,
    );
  }

  get defaultHost(): string {
    return this.defaultUrl.host;
  }

  /** Base URL (`scheme://host[:port]`) of a registry host. */
  baseUrl(host: string): string {
    if (host === this.defaultUrl.host) return `${this.defaultUrl.protocol}//${host}`;
    const bare = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    const loopback = bare === 'localhost' || bare === '::1' || bare.startsWith('127.');
    const insecure = loopback || (this.options.insecureRegistries ?? []).includes(host);
    return `${insecure ? 'http' : 'https'}://${host}`;
  }

  async resolve(ref: ImageReference & { registry: string }, _signal?: AbortSignal): Promise<ResolvedImage> {
    const image = formatReference(ref);
    const first = await this.getManifest(ref, ref.digest ?? (ref.tag as string), image);
    let manifest = first.parsed;
    let manifestDigest = first.digest;
    let manifestBytes = first.bytes;
    if (manifest.kind === 'index') {
      const chosen = selectPlatform(manifest.manifests, this.options.platform);
      if (!chosen)
        fail('IMAGE_NO_MATCHING_PLATFORM', {
          image,
          platform: formatPlatform(this.options.platform),
          available:
            manifest.manifests.map((m) => (m.platform ? formatPlatform(m.platform) : '?')).join(', ') ||
            'none',
        });
      const second = await this.getManifest(ref, chosen.digest, image);
      if (second.parsed.kind !== 'image')
        fail('IMAGE_MANIFEST_UNSUPPORTED', { image, detail: 'an index entry points at another index' });
      manifest = second.parsed;
      manifestDigest = second.digest;
      manifestBytes = second.bytes;
    }
    const { config, layers } = manifest as Extract<ParsedManifest, { kind: 'image' }>;
    const configBytes = await this.getBlobBytes(ref, config, image, 'image config');
    return {
      image,
      manifestDigest,
      manifestBytes,
      configDigest: config.digest,
      configBytes,
      layers: layers.map((l, i) => this.layerSource(ref, l, image, i)),
    };
  }

  private layerSource(
    ref: ImageReference & { registry: string },
    d: Descriptor,
    image: string,
    index: number,
  ): LayerSource {
    return {
      digest: d.digest,
      size: d.size,
      compression: layerCompression(d.mediaType, image, index),
      retry: { attempts: this.attempts, backoffMs: this.backoffMs },
      open: async (signal, offset = 0) => {
        const range = offset > 0 ? `bytes=${offset}-` : undefined;
        const res = await this.blobResponse(ref, d, image, signal, range, true);
        if (!res.body)
          fail('IMAGE_REGISTRY_ERROR', {
            registry: ref.registry,
            httpStatus: res.status,
            what: `layer ${d.digest}`,
            image,
            detail: 'empty body',
          });
        const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
        if (offset === 0) return body;
        if (res.status === 206) {
          // The part must start where we asked; anything else is not resumable (a plain error: the
          // store tries again).
          const contentRange = res.headers.get('content-range') ?? '';
          const start = /^bytes (\d+)-/.exec(contentRange)?.[1];
          if (start === undefined || Number(start) !== offset) {
            body.destroy();
            throw new Error(`asked for bytes ${offset}- of ${d.digest}, got Content-Range '${contentRange}'`);
          }
          return body;
        }
        // The server ignored Range (200, the whole blob): drop what the store already has.
        return pipeline(body, skipBytes(offset), () => {});
      },
    };
  }

  private async getManifest(
    ref: ImageReference & { registry: string },
    tagOrDigest: string,
    image: string,
  ): Promise<{ bytes: Buffer; digest: string; parsed: ParsedManifest }> {
    const url = `${this.baseUrl(ref.registry)}/v2/${ref.repository}/manifests/${tagOrDigest}`;
    const { res, bytes } = await this.readWhole(
      ref,
      () => this.request(ref, url, { accept: MANIFEST_ACCEPT }, image, 'manifest'),
      MAX_MANIFEST,
      image,
      `manifest ${tagOrDigest}`,
    );
    const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const expected = tagOrDigest.startsWith('sha256:')
      ? tagOrDigest
      : (res.headers.get('docker-content-digest') ?? undefined);
    if (expected !== undefined && expected !== actual)
      fail('IMAGE_DIGEST_MISMATCH', { what: `manifest ${tagOrDigest}`, image, expected, actual });
    return {
      bytes,
      digest: actual,
      parsed: parseManifest(bytes, res.headers.get('content-type') ?? undefined, image),
    };
  }

  private async getBlobBytes(
    ref: ImageReference & { registry: string },
    d: Descriptor,
    image: string,
    what: string,
  ): Promise<Buffer> {
    const { bytes } = await this.readWhole(
      ref,
      () => this.blobResponse(ref, d, image),
      Math.max(d.size, MAX_MANIFEST),
      image,
      what,
    );
    const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (actual !== d.digest) fail('IMAGE_DIGEST_MISMATCH', { what, image, expected: d.digest, actual });
    return bytes;
  }

  /** A small document read whole; a body that breaks is fetched again (attempts, backoff). */
  private async readWhole(
    ref: ImageReference & { registry: string },
    get: () => Promise<Response>,
    limit: number,
    image: string,
    what: string,
  ): Promise<{ res: Response; bytes: Buffer }> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      if (attempt > 1) await sleep(this.backoffMs * 2 ** (attempt - 2) * (0.75 + Math.random() / 2));
      const res = await get();
      try {
        return { res, bytes: await readLimited(res, limit, image) };
      } catch (e) {
        if (e instanceof StrataError) throw e;
        lastError = e;
      }
    }
    const message = lastError instanceof Error ? lastError.message : String(lastError);
    const cause =
      lastError instanceof Error && lastError.cause instanceof Error ? lastError.cause.message : '';
    return fail('IMAGE_REGISTRY_UNREACHABLE', {
      registry: ref.registry,
      image,
      attempts: this.attempts,
      detail: `the body of ${what} broke: ${cause ? `${message}: ${cause}` : message}`,
    });
  }

  private async blobResponse(
    ref: ImageReference & { registry: string },
    d: Descriptor,
    image: string,
    signal?: AbortSignal,
    range?: string,
    idleBody = false,
  ): Promise<Response> {
    const url = `${this.baseUrl(ref.registry)}/v2/${ref.repository}/blobs/${d.digest}`;
    const headers = { ...(range ? { range } : {}), ...(idleBody ? { idleBody } : {}) };
    try {
      return await this.request(ref, url, headers, image, `blob ${d.digest}`, signal);
    } catch (e) {
      // Non-distributable ("foreign") layers live at the URLs the manifest lists.
      if (!d.urls?.length || !(e instanceof StrataError)) throw e;
      for (const u of d.urls) {
        try {
          return await this.request(ref, u, headers, image, `blob ${d.digest}`, signal, false);
        } catch {}
      }
      throw e;
    }
  }

  /**
   * One logical GET: authentication (at most one fresh challenge), redirects and retries. Returns
   * a 2xx response with its body unread.
   */
  async request(
    ref: ImageReference & { registry: string },
    url: string,
    headers: { accept?: string; range?: string; idleBody?: boolean },
    image: string,
    what: string,
    signal?: AbortSignal,
    useAuth = true,
  ): Promise<Response> {
    let lastError: unknown;
    let authRetried = false;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      if (attempt > 1) await sleep(this.backoffMs * 2 ** (attempt - 2) * (0.75 + Math.random() / 2), signal);
      let res: Response;
      try {
        const auth = useAuth ? await this.authorization(ref, image) : undefined;
        res = await this.follow(
          url,
          {
            ...(headers.accept ? { accept: headers.accept } : {}),
            ...(headers.range ? { range: headers.range } : {}),
            ...(auth ? { authorization: auth } : {}),
          },
          signal,
          headers.idleBody,
        );
      } catch (e) {
        if (e instanceof StrataError || signal?.aborted) throw e;
        lastError = e;
        continue;
      }
      if (res.ok) return res;
      await res.body?.cancel().catch(() => {});
      if (res.status === 401 && useAuth && !authRetried) {
        const challenge = pickChallenge(res.headers.get('www-authenticate'));
        if (challenge) {
          authRetried = true;
          this.challenges.set(ref.registry, challenge);
          this.tokens.clear();
          attempt--; // a challenge is not a failed attempt
          continue;
        }
      }
      if (res.status === 401 || res.status === 403)
        fail('IMAGE_AUTH_FAILED', { registry: ref.registry, image, detail: `${res.status} for ${what}` });
      if (res.status === 404)
        fail('IMAGE_NOT_FOUND', { image, detail: `registry ${ref.registry} has no ${what}` });
      if (res.status === 429 || res.status >= 500) {
        lastError = new Error(`HTTP ${res.status}`);
        const retryAfter = Number(res.headers.get('retry-after'));
        if (Number.isFinite(retryAfter) && retryAfter > 0 && retryAfter < 30)
          await sleep(retryAfter * 1000, signal);
        continue;
      }
      fail('IMAGE_REGISTRY_ERROR', {
        registry: ref.registry,
        httpStatus: res.status,
        what,
        image,
        detail: res.statusText,
      });
    }
    return fail('IMAGE_REGISTRY_UNREACHABLE', {
      registry: ref.registry,
      image,
      attempts: this.attempts,
      detail:
        lastError instanceof Error
          ? lastError.cause instanceof Error
            ? `${lastError.message}: ${lastError.cause.message}`
            : lastError.message
          : String(lastError),
    });
  }

  /**
   * GET with manual redirects; Authorization only goes to the origin it was meant for. The timeout
   * covers the whole exchange, or with `idleBody` the headers and then each wait for body bytes.
   */
  private async follow(
    url: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
    idleBody = false,
  ): Promise<Response> {
    const ms = this.options.timeoutMs ?? 30_000;
    let current = new URL(url);
    const origin = current.origin;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const h: Record<string, string> = {
        'user-agent': this.options.userAgent ?? 'strata-provisioner',
        ...headers,
      };
      if (current.origin !== origin) delete h.authorization;
      const deadline = new AbortController();
      const timeout = idleBody ? deadline.signal : AbortSignal.timeout(ms);
      const timer = idleBody ? setTimeout(() => deadline.abort(timeoutError(ms, 'answer')), ms) : undefined;
      let res: Response;
      try {
        res = await this.fetchFn(current, {
          headers: h,
          redirect: 'manual',
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
      } finally {
        clearTimeout(timer);
      }
      if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
        await res.body?.cancel().catch(() => {});
        current = new URL(res.headers.get('location') as string, current);
        continue;
      }
      return idleBody && res.body ? withIdleTimeout(res, deadline, ms) : res;
    }
    throw new Error(`more than ${MAX_REDIRECTS} redirects from ${url}`);
  }

  /**
   * The Authorization header for `ref`'s registry: a Bearer token, Basic, or none. A credential
   * the reference carries (an image's own `Image.Docker.config`) wins over `--docker_config`'s.
   */
  private async authorization(
    ref: ImageReference & { registry: string; credential?: Credential },
    image: string,
  ): Promise<string | undefined> {
    const credential = ref.credential ?? this.options.credentials.get(ref.registry);
    const challenge = this.challenges.get(ref.registry);
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') {
      const basic = credential ? basicHeader(credential) : undefined;
      if (!basic)
        fail('IMAGE_AUTH_FAILED', {
          registry: ref.registry,
          image,
          detail: 'Basic auth asked for, but --docker_config has no credentials for it',
        });
      return basic;
    }
    if (challenge.scheme !== 'bearer') return undefined;
    const scope = `repository:${ref.repository}:pull`;
    // Tokens are per credential: an image's own must not reuse a token another one obtained.
    const key = `${ref.registry} ${scope} ${ref.credential ? credentialKey(ref.credential) : ''}`;
    const cached = this.tokens.get(key);
    if (cached && cached.expires > Date.now()) return `Bearer ${cached.token}`;
    const realm = challenge.params.realm;
    if (!realm)
      fail('IMAGE_AUTH_FAILED', { registry: ref.registry, image, detail: 'Bearer challenge without realm' });
    const tokenUrl = new URL(realm);
    if (challenge.params.service) tokenUrl.searchParams.set('service', challenge.params.service);
    tokenUrl.searchParams.set('scope', scope);
    const headers: Record<string, string> = {};
    const basic = credential ? basicHeader(credential) : undefined;
    if (basic) headers.authorization = basic;
    let res: Response;
    try {
      res = await this.fetchFn(tokenUrl, {
        headers,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
    } catch (e) {
      throw new Error(`token endpoint ${tokenUrl.origin}: ${(e as Error).message}`);
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      fail('IMAGE_AUTH_FAILED', {
        registry: ref.registry,
        image,
        detail: `token endpoint answered ${res.status}`,
      });
    }
    const body = (await res.json().catch(() => ({}))) as {
      token?: string;
      access_token?: string;
      expires_in?: number;
    };
    const token = body.token ?? body.access_token;
    if (!token)
      fail('IMAGE_AUTH_FAILED', {
        registry: ref.registry,
        image,
        detail: 'token endpoint returned no token',
      });
    const lifetime = Math.max(60, Number(body.expires_in) || 60);
    this.tokens.set(key, { token, expires: Date.now() + (lifetime - 10) * 1000 });
    return `Bearer ${token}`;
  }
}

function pickChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const all = parseChallenges(header);
  return all.find((c) => c.scheme === 'bearer') ?? all.find((c) => c.scheme === 'basic');
}

async function readLimited(res: Response, limit: number, image: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  if (!res.body) return Buffer.alloc(0);
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > limit) {
      fail('IMAGE_MANIFEST_UNSUPPORTED', { image, detail: `document larger than ${limit} bytes` });
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

function timeoutError(ms: number, what: string): Error {
  return new DOMException(`no ${what} from the registry within ${ms} ms`, 'TimeoutError');
}

/**
 * The response with a body that fails (aborting the fetch) when a read waits `ms` for bytes; no
 * clock runs while nobody reads (a slow unpack is not a stalled registry).
 */
function withIdleTimeout(res: Response, deadline: AbortController, ms: number): Response {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const timer = setTimeout(() => deadline.abort(timeoutError(ms, 'layer bytes')), ms);
        try {
          const { done, value } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        } finally {
          clearTimeout(timer);
        }
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}

/** Drops the first `count` bytes of a stream (a resume answered with the whole blob). */
function skipBytes(count: number): Transform {
  let left = count;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      if (left >= chunk.length) {
        left -= chunk.length;
        cb();
        return;
      }
      const rest = left > 0 ? chunk.subarray(left) : chunk;
      left = 0;
      cb(null, rest);
    },
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/** Tells credentials apart (for the token cache) without keeping the secret in the key. */
function credentialKey(credential: Credential): string {
  return createHash('sha256')
    .update(`${credential.username ?? ''}\0${credential.password ?? ''}\0${credential.identityToken ?? ''}`)
    .digest('hex');
}
