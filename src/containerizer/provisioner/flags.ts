/**
 * The agent flags the provisioner reads, declared once in the options-table style so the agent can
 * spread them into its own table (`...provisionerFlags`). Names and defaults are Mesos'.
 */
import { enumOption, intOption, stringOption } from '../../common/options.js';

export const provisionerFlags = {
  docker_registry: stringOption({
    help: 'default registry for docker images without a host (URL), or an absolute directory of image tarballs (docker save / OCI archives)',
    default: 'https://registry-1.docker.io',
  }),
  docker_store_dir: stringOption({
    help: 'where pulled docker images are stored',
    default: '/tmp/mesos/store/docker',
  }),
  docker_config: stringOption({
    help: 'docker config.json with registry credentials: a path or inline JSON',
  }),
  appc_store_dir: stringOption({
    help: 'where fetched appc images (ACIs) are stored',
    default: '/tmp/mesos/store/appc',
  }),
  appc_simple_discovery_uri_prefix: stringOption({
    help: 'where appc simple discovery fetches {name}-{version}-{os}-{arch}.aci from: a URL prefix (http://, https://), an absolute directory or a file:// prefix',
    default: 'http://',
  }),
  image_provisioner_backend: enumOption({
    help: 'how container root filesystems are built from image layers',
    choices: ['overlay', 'copy'],
    default: 'overlay',
  }),
  image_provisioner_spares: intOption({
    help: 'Strata: how many images get a spare overlay rootfs built ahead, so that their next container starts without waiting for a mount (0: none)',
    default: 4,
    validate: (n) => (n < 0 ? 'must be 0 or more' : undefined),
  }),
  image_gc_config: stringOption({
    help: 'image garbage collection policy, JSON (image_disk_headroom, image_disk_watch_interval, excluded_images) or a path to it',
  }),
};
