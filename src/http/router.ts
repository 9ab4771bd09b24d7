/**
 * libprocess URL routing, as a pure table (reference §1.1). A path's first segment names a
 * "process" (`master`, `slave(1)`, `metrics`, `files`, ...); when no process has that name the
 * request is delegated to the main process by prefixing its id, so on a master `/api/v1/scheduler`
 * is served as `/master/api/v1/scheduler` and `/` as `/master`. Inside a process the endpoint is
 * the longest registered prefix of the remaining path components.
 *
 * Normalisation: segments are percent-decoded one by one (so `slave%281%29` is `slave(1)`, while an
 * encoded `%2F` stays inside its segment and can never forge a separator) and empty segments are
 * dropped, which ignores a trailing slash and doubled slashes. As in libprocess a raw path
 * containing `/..` is a 404, and so is a segment that decodes to `..`.
 */

export interface RouteMatch<T> {
  kind: 'match';
  value: T;
  /** The process that serves the request, after delegation. */
  processId: string;
  /** The registered endpoint inside the process: `/state`, `/api/v1/scheduler`, or `/` for its root. */
  endpoint: string;
  /** Decoded components below the endpoint, joined by `/` (`x` for `/master/state/x`); usually empty. */
  subPath: string;
  /** The decoded, normalised, delegated path: `/master/api/v1/scheduler`. */
  path: string;
  /** Whether the main process' id was prefixed. */
  delegated: boolean;
}

export interface RouteMiss {
  kind: 'not-found';
  /** The decoded, normalised path after delegation, when it got that far (for logs). */
  path: string;
}

export interface RouteBadRequest {
  kind: 'bad-request';
  detail: string;
}

export type RouteResolution<T> = RouteMatch<T> | RouteMiss | RouteBadRequest;

export class RouteTable<T> {
  private readonly processes = new Map<string, Map<string, T>>();

  /** `delegate`: the main process that unknown first segments are handed to; none means 404. */
  constructor(readonly delegate?: string) {}

  /**
   * Registers `value` for `endpoint` (like `/state` or `/api/v1`; `/` or `` for the process root)
   * of `processId`. Registering an id is what makes it a process: it stops delegation for that
   * first segment even for paths none of its endpoints match.
   */
  add(processId: string, endpoint: string, value: T): void {
    if (processId === '' || processId.includes('/')) {
      throw new RangeError(`invalid process id '${processId}'`);
    }
    const key = endpointKey(endpoint);
    let endpoints = this.processes.get(processId);
    if (!endpoints) {
      endpoints = new Map();
      this.processes.set(processId, endpoints);
    }
    if (endpoints.has(key)) throw new RangeError(`route /${processId}/${key} is already registered`);
    endpoints.set(key, value);
  }

  hasProcess(processId: string): boolean {
    return this.processes.has(processId);
  }

  /** Resolves a raw request path (no query string), exactly as it appeared in the request line. */
  resolve(rawPath: string): RouteResolution<T> {
    if (!rawPath.startsWith('/'))
      return { kind: 'bad-request', detail: `Malformed request path '${rawPath}'` };
    if (rawPath.includes('/..')) return { kind: 'not-found', path: rawPath };

    const segments: string[] = [];
    for (const raw of rawPath.split('/')) {
      if (raw === '') continue;
      const decoded = percentDecode(raw);
      if (decoded === undefined) return { kind: 'bad-request', detail: `Malformed % escape in '${rawPath}'` };
      if (decoded === '..') return { kind: 'not-found', path: rawPath };
      segments.push(decoded);
    }

    let processId: string;
    let rest: string[];
    let delegated = false;
    const first = segments[0];
    if (first !== undefined && this.processes.has(first)) {
      processId = first;
      rest = segments.slice(1);
    } else if (this.delegate !== undefined) {
      processId = this.delegate;
      rest = segments;
      delegated = true;
    } else {
      return { kind: 'not-found', path: '/' + segments.join('/') };
    }

    const path = '/' + [processId, ...rest].join('/');
    const endpoints = this.processes.get(processId);
    if (!endpoints) return { kind: 'not-found', path };

    // Longest prefix first. The process root answers only its exact path: `/master/nonsense` is a
    // 404, not the web UI, as in libprocess.
    for (let length = rest.length; length >= 1; length--) {
      const key = rest.slice(0, length).join('/');
      const value = endpoints.get(key);
      if (value !== undefined) {
        return match(value, processId, key, rest.slice(length).join('/'), path, delegated);
      }
    }
    if (rest.length === 0) {
      const root = endpoints.get('');
      if (root !== undefined) return match(root, processId, '', '', path, delegated);
    }
    return { kind: 'not-found', path };
  }
}

function match<T>(
  value: T,
  processId: string,
  key: string,
  subPath: string,
  path: string,
  delegated: boolean,
): RouteMatch<T> {
  return { kind: 'match', value, processId, endpoint: '/' + key, subPath, path, delegated };
}

function endpointKey(endpoint: string): string {
  return endpoint
    .split('/')
    .filter((segment) => segment !== '')
    .join('/');
}

function percentDecode(segment: string): string | undefined {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * Encodes a decoded path for a `Location` header: each segment keeps RFC 3986 `pchar`s (so
 * `slave(1)` stays readable) and everything else, including `%`, is percent-encoded as UTF-8.
 */
export function encodePath(path: string): string {
  return path
    .split('/')
    .map((segment) =>
      encodeURIComponent(segment).replace(/%(24|26|2B|2C|3B|3D|3A|40)/g, (kept) => decodeURIComponent(kept)),
    )
    .join('/');
}
