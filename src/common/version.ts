/** Build identity served by `/version`, GET_VERSION and `strata --version`. */
import { readFileSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';

const packageJson = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** The Mesos API version we speak; tools compare `version` against Mesos releases. */
export const MESOS_COMPATIBLE_VERSION = '1.11.0';
export const STRATA_VERSION: string = packageJson.version;

// The compiled module's own modification time is when this build was made.
const builtAt = statSync(fileURLToPath(import.meta.url)).mtime;
const builtBy = (() => {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
})();

export interface VersionInfo {
  version: string;
  build_date: string;
  build_time: number;
  build_user: string;
  strata_version: string;
}

export function versionInfo(): VersionInfo {
  return {
    version: MESOS_COMPATIBLE_VERSION,
    build_date: builtAt.toISOString().replace('T', ' ').slice(0, 19),
    build_time: Math.floor(builtAt.getTime() / 1000),
    build_user: builtBy,
    strata_version: STRATA_VERSION,
  };
}

/** The same as `mesos.v1.VersionInfo` fields (GET_VERSION of the master and agent operator APIs). */
export function versionInfoMessageInit(): {
  version: string;
  buildDate: string;
  buildTime: number;
  buildUser: string;
} {
  const version = versionInfo();
  return {
    version: version.version,
    buildDate: version.build_date,
    buildTime: version.build_time,
    buildUser: version.build_user,
  };
}
