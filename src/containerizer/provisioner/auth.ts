/**
 * Registry authentication, pure parts: `WWW-Authenticate` challenges (RFC 7235 syntax, as Docker
 * registries send them) and credentials from a docker `config.json` (`auths`) or an old
 * `.dockercfg`, given as a file path or as inline JSON (Mesos' `--docker_config` accepts both).
 */
import { readFileSync } from 'node:fs';
import { fail } from '../../common/errors.js';
import { DOCKER_HUB_HOST, isHubHost } from './reference.js';

export interface Challenge {
  /** Lower-cased scheme: `bearer`, `basic`, ... */
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/** Parses every challenge in one `WWW-Authenticate` header value. */
export function parseChallenges(header: string): Challenge[] {
  const out: { scheme: string; params: Record<string, string> }[] = [];
  let i = 0;
  const n = header.length;
  const skip = () => {
    while (i < n && (header[i] === ' ' || header[i] === '\t' || header[i] === ',')) i++;
  };
  const token = () => {
    const start = i;
    while (i < n && !/[\s,=]/.test(header[i] as string)) i++;
    return header.slice(start, i);
  };
  while (i < n) {
    skip();
    if (i >= n) break;
    const start = i;
    const word = token();
    let j = i;
    while (j < n && (header[j] === ' ' || header[j] === '\t')) j++;
    if (header[j] === '=' && out.length > 0 && header[j + 1] !== '=') {
      // An auth-param of the current challenge.
      i = j + 1;
      while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++;
      } else {
        const vs = i;
        while (i < n && header[i] !== ',') i++;
        value = header.slice(vs, i).trim();
      }
      (out[out.length - 1] as { params: Record<string, string> }).params[word.toLowerCase()] = value;
    } else if (word.length > 0) {
      out.push({ scheme: word.toLowerCase(), params: {} });
      // token68 form (`Basic abc==`) is not used by registries; skip it if present.
      i = j;
    } else {
      i = start + 1;
    }
  }
  return out;
}

export interface Credential {
  readonly username?: string;
  readonly password?: string;
  /** An OAuth2 refresh token (`identitytoken`), sent to the token endpoint. */
  readonly identityToken?: string;
}

/** `host[:port]` from a config key (`https://index.docker.io/v1/`, `host:5000`, `http://h/`). */
export function normalizeRegistryKey(key: string): string {
  let k = key.trim();
  k = k.replace(/^[a-z]+:\/\//i, '');
  const slash = k.indexOf('/');
  if (slash >= 0) k = k.slice(0, slash);
  k = k.toLowerCase();
  return isHubHost(k) ? DOCKER_HUB_HOST : k;
}

/** Parses docker credentials; returns host → credential. Throws on malformed input. */
export function parseDockerConfig(text: string, source = '--docker_config'): Map<string, Credential> {
  const bad = (detail: string): never =>
    fail('PROVISIONER_CONFIG_INVALID', { flag: 'docker_config', detail: `${source}: ${detail}` });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    bad(`not JSON (${(e as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) bad('not a JSON object');
  const top = doc as Record<string, unknown>;
  // config.json has `auths`; the old .dockercfg is the map itself.
  const auths = (typeof top.auths === 'object' && top.auths !== null ? top.auths : top) as Record<
    string,
    unknown
  >;
  const out = new Map<string, Credential>();
  for (const [key, value] of Object.entries(auths)) {
    if (key === 'auths' || typeof value !== 'object' || value === null) continue;
    const v = value as Record<string, unknown>;
    let username = typeof v.username === 'string' ? v.username : undefined;
    let password = typeof v.password === 'string' ? v.password : undefined;
    if (typeof v.auth === 'string' && v.auth !== '') {
      const decoded = Buffer.from(v.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) bad(`auths['${key}'].auth is not base64 of user:password`);
      username = decoded.slice(0, colon);
      password = decoded.slice(colon + 1);
    }
    const identityToken =
      typeof v.identitytoken === 'string' && v.identitytoken !== '' ? v.identitytoken : undefined;
    if (username === undefined && identityToken === undefined) continue;
    out.set(normalizeRegistryKey(key), {
      ...(username !== undefined ? { username, password: password ?? '' } : {}),
      ...(identityToken ? { identityToken } : {}),
    });
  }
  return out;
}

/** `--docker_config`: inline JSON when it starts with `{`, else a file path. */
export function loadDockerConfig(flag: string | undefined): Map<string, Credential> {
  if (flag === undefined || flag.trim() === '') return new Map();
  const text = flag.trim().startsWith('{') ? flag : readFileText(flag);
  return parseDockerConfig(text, flag.trim().startsWith('{') ? '--docker_config' : flag);
}

function readFileText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    return fail('PROVISIONER_CONFIG_INVALID', {
      flag: 'docker_config',
      detail: `cannot read ${path}: ${(e as Error).message}`,
    });
  }
}

export function basicHeader(c: Credential): string | undefined {
  if (c.username === undefined) return undefined;
  return `Basic ${Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64')}`;
}
