/**
 * Role names (reference mesos-v1-api.md section 2.3): `*`, or a `/`-separated path whose
 * components are not empty, `.`, `..` or `*`, do not start with `-`, and hold no whitespace or
 * backspace.
 */
export function invalidRoleReason(role: string): string | undefined {
  if (role === '*') return undefined;
  if (role.length === 0) return 'Empty role name is invalid';
  if (role.startsWith('/')) return `Role '${role}' cannot start with a slash`;
  if (role.endsWith('/')) return `Role '${role}' cannot end with a slash`;
  for (const component of role.split('/')) {
    if (component.length === 0) return `Role '${role}' cannot contain two adjacent slashes`;
    if (component === '.' || component === '..' || component === '*') {
      return `Role '${role}' cannot have '${component}' as a path component`;
    }
    if (component.startsWith('-')) return `Role '${role}' cannot have a path component starting with '-'`;
    if (/[\s\b\u0008]/.test(component))
      return `Role '${role}' cannot contain whitespace or backspace characters`;
  }
  return undefined;
}

/** `eng` is an ancestor of `eng/web`; a role is not its own ancestor. */
export function isStrictAncestorRole(ancestor: string, role: string): boolean {
  return ancestor !== '*' && role.startsWith(`${ancestor}/`);
}

/** `--weights=eng=2,ops=0.5`: role → weight; a message naming the problem when malformed. */
export function parseWeights(text: string): Map<string, number> | string {
  const weights = new Map<string, number>();
  for (const entry of text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '')) {
    const [role = '', weightText, ...rest] = entry.split('=');
    if (weightText === undefined || rest.length > 0) return `'${entry}' is not role=weight`;
    const reason = invalidRoleReason(role);
    if (reason !== undefined) return reason;
    const weight = Number(weightText);
    if (!Number.isFinite(weight) || weight <= 0)
      return `weight '${weightText}' of role '${role}' must be positive`;
    weights.set(role, weight);
  }
  return weights;
}
