/**
 * Role names and the role hierarchy (`eng/web` is a strict subrole of `eng`). Validation messages are
 * the ones Mesos' `roles::validate` returns, because they reach frameworks verbatim.
 */

/** The default role: resources "reserved" to it are unreserved, and nothing can be reserved to it. */
export const DEFAULT_ROLE = '*';

// Mesos rejects backspace and every whitespace character it knows (tab, LF, VT, FF, CR, space).
const INVALID_ROLE_CHARACTERS = /[\x08\x09\x0a\x0b\x0c\x0d\x20]/;

/** Returns Mesos' error message for an invalid role name, or undefined when the name is valid. */
export function validateRole(role: string): string | undefined {
  if (role === DEFAULT_ROLE) return undefined;
  if (role === '') return 'Empty role name is invalid';
  if (role.startsWith('/')) return `Role '${role}' cannot start with a slash`;
  if (role.endsWith('/')) return `Role '${role}' cannot end with a slash`;
  if (role.includes('//')) return `Role '${role}' cannot contain two adjacent slashes`;
  for (const component of role.split('/')) {
    if (component === '.') return `Role '${role}' cannot include '.' as a path segment`;
    if (component === '..') return `Role '${role}' cannot include '..' as a path segment`;
    if (component === DEFAULT_ROLE) return `Role '${role}' cannot include '*' as a path segment`;
    if (component.startsWith('-')) {
      return `Role component '${component}' is invalid because it starts with a dash`;
    }
    if (INVALID_ROLE_CHARACTERS.test(component)) {
      return `Role component '${component}' is invalid because it contains backspace or whitespace`;
    }
  }
  return undefined;
}

/** Whether `role` lies strictly below `ancestor` in the hierarchy: `eng/web` under `eng`, not `engx`. */
export function isStrictSubroleOf(role: string, ancestor: string): boolean {
  return (
    role.length > ancestor.length && role.charCodeAt(ancestor.length) === 0x2f && role.startsWith(ancestor)
  );
}

/** Whether `role` is `ancestor` itself or lies below it. */
export function isRoleInSubtree(role: string, ancestor: string): boolean {
  return role === ancestor || isStrictSubroleOf(role, ancestor);
}

/** `eng/web/api` → [`eng`, `eng/web`]: the strict ancestors, outermost first. */
export function roleAncestors(role: string): string[] {
  const ancestors: string[] = [];
  for (let slash = role.indexOf('/'); slash !== -1; slash = role.indexOf('/', slash + 1)) {
    ancestors.push(role.slice(0, slash));
  }
  return ancestors;
}
