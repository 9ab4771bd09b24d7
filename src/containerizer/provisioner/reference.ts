/**
 * Docker image references: `[REGISTRY_HOST[:PORT]/]REPOSITORY[:TAG|@DIGEST]`, as Mesos and Docker
 * read them. The tag defaults to `latest` (unless a digest is given); on Docker Hub a one-part
 * repository gets the `library/` prefix.
 */
import { fail } from '../../common/errors.js';

export const DOCKER_HUB_HOST = 'registry-1.docker.io';
const HUB_ALIASES = new Set([
  'docker.io',
  'index.docker.io',
  'registry-1.docker.io',
  'registry.hub.docker.com',
]);

export interface ImageReference {
  /** `host[:port]` of the registry, or undefined for "the configured default registry". */
  readonly registry: string | undefined;
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

export function isHubHost(host: string): boolean {
  return HUB_ALIASES.has(host);
}

export function parseReference(name: string): ImageReference {
  const bad = (detail: string): never => fail('IMAGE_REFERENCE_INVALID', { reference: name, detail });
  if (name.length === 0 || name.length > 1024 || /\s/.test(name)) bad('empty, too long or contains spaces');
  let rest = name;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) bad(`digest '${digest}' is not sha256:<64 hex>`);
  }
  let registry: string | undefined;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[')) {
      registry = first;
      rest = rest.slice(slash + 1);
    }
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) bad(`tag '${tag}' is not valid`);
  }
  if (rest.length === 0) bad('no repository');
  for (const part of rest.split('/'))
    if (!COMPONENT.test(part)) bad(`repository component '${part}' is not valid`);
  if (registry !== undefined && isHubHost(registry)) registry = DOCKER_HUB_HOST;
  return { registry, repository: rest, tag: tag ?? (digest ? undefined : 'latest'), digest };
}

/** Fills in the registry (the default one when the name named none) and Hub's `library/`. */
export function withRegistry(
  ref: ImageReference,
  defaultRegistry: string,
): ImageReference & { registry: string } {
  const registry = ref.registry ?? defaultRegistry;
  const hub = isHubHost(registry);
  const repository = hub && !ref.repository.includes('/') ? `library/${ref.repository}` : ref.repository;
  return { ...ref, registry: hub ? DOCKER_HUB_HOST : registry, repository };
}

/** `repository[:tag][@digest]`, with the registry in front when there is one. */
export function formatReference(ref: ImageReference): string {
  const head = ref.registry ? `${ref.registry}/${ref.repository}` : ref.repository;
  return `${head}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}
