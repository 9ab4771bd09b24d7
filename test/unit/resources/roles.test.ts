import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isRoleInSubtree,
  isStrictSubroleOf,
  roleAncestors,
  validateRole,
} from '../../../src/resources/roles.js';

describe('roles', () => {
  it('validates names with Mesos messages', () => {
    for (const ok of ['*', 'eng', 'eng/web', 'a.b', 'team-1/x_y'])
      assert.equal(validateRole(ok), undefined, ok);
    assert.equal(validateRole(''), 'Empty role name is invalid');
    assert.equal(validateRole('/eng'), "Role '/eng' cannot start with a slash");
    assert.equal(validateRole('eng/'), "Role 'eng/' cannot end with a slash");
    assert.equal(validateRole('eng//web'), "Role 'eng//web' cannot contain two adjacent slashes");
    assert.equal(validateRole('eng/..'), "Role 'eng/..' cannot include '..' as a path segment");
    assert.equal(validateRole('.'), "Role '.' cannot include '.' as a path segment");
    assert.equal(validateRole('eng/*'), "Role 'eng/*' cannot include '*' as a path segment");
    assert.equal(validateRole('-eng'), "Role component '-eng' is invalid because it starts with a dash");
    assert.equal(
      validateRole('my role'),
      "Role component 'my role' is invalid because it contains backspace or whitespace",
    );
  });

  it('knows the hierarchy', () => {
    assert.ok(isStrictSubroleOf('eng/web', 'eng'));
    assert.ok(isStrictSubroleOf('eng/web/api', 'eng'));
    assert.ok(!isStrictSubroleOf('eng', 'eng'));
    assert.ok(!isStrictSubroleOf('engineering', 'eng'));
    assert.ok(isRoleInSubtree('eng', 'eng'));
    assert.deepEqual(roleAncestors('eng/web/api'), ['eng', 'eng/web']);
    assert.deepEqual(roleAncestors('eng'), []);
  });
});
