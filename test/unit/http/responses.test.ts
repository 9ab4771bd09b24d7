import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isStrataError, StrataError } from '../../../src/common/errors.js';
import { requireMethod } from '../../../src/http/media.js';
import {
  accepted,
  errorToResponse,
  jsonResponse,
  leaderLocation,
  MASTER_RECOVERING,
  messageResponse,
  NO_LEADER_ELECTED,
  redirectToLeader,
  serviceUnavailable,
  textResponse,
} from '../../../src/http/responses.js';

describe('response builders', () => {
  it('builds plain, empty and message responses', () => {
    assert.deepEqual(textResponse(400, 'bad'), {
      status: 400,
      headers: { 'Content-Type': 'text/plain; charset=utf-8' },
      body: 'bad',
    });
    assert.deepEqual(textResponse(404, ''), { status: 404 });
    assert.deepEqual(accepted(), { status: 202 });
    assert.deepEqual(messageResponse('{}', 'application/json'), {
      status: 200,
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    });
  });

  it('wraps JSON for ?jsonp=cb', () => {
    assert.deepEqual(jsonResponse(new URLSearchParams(''), '{"a":1}'), {
      status: 200,
      headers: { 'Content-Type': 'application/json' },
      body: '{"a":1}',
    });
    assert.deepEqual(jsonResponse(new URLSearchParams('jsonp=cb'), '{"a":1}'), {
      status: 200,
      headers: { 'Content-Type': 'text/javascript' },
      body: 'cb({"a":1});',
    });
    assert.equal(
      jsonResponse(new URLSearchParams('jsonp=angular.callbacks._0'), '1').body,
      'angular.callbacks._0(1);',
    );
  });

  it('refuses a jsonp callback that is not an identifier path', () => {
    for (const callback of ['', 'alert(1);x', 'a b', '1abc', 'a..b', '<script>', 'x'.repeat(300)]) {
      assert.throws(
        () => jsonResponse(new URLSearchParams({ jsonp: callback }), '{}'),
        (err: unknown) => isStrataError(err, 'HTTP_BAD_REQUEST') && err.status === 400,
        callback,
      );
    }
  });
});

describe('leader redirects', () => {
  const leader = { hostname: 'm2', port: 5050 };

  it('is scheme-relative and carries the rewritten path and the query', () => {
    assert.equal(
      leaderLocation(leader, { path: '/master/api/v1/scheduler', rawQuery: '' }),
      '//m2:5050/master/api/v1/scheduler',
    );
    assert.equal(
      leaderLocation(leader, { path: '/master/state', rawQuery: 'jsonp=cb&_ts=1' }),
      '//m2:5050/master/state?jsonp=cb&_ts=1',
    );
    assert.deepEqual(redirectToLeader(leader, { path: '/master/state', rawQuery: '' }), {
      status: 307,
      headers: { Location: '//m2:5050/master/state' },
    });
  });

  it('points /redirect at the bare root', () => {
    assert.equal(leaderLocation(leader), '//m2:5050');
  });

  it('brackets IPv6 literals and keeps the header value safe', () => {
    assert.equal(leaderLocation({ hostname: '::1', port: 5050 }), '//[::1]:5050');
    assert.equal(
      leaderLocation(leader, { path: '/master/a b', rawQuery: 'x=\u00e9\r\n' }),
      '//m2:5050/master/a%20b?x=%E9%0D%0A',
    );
  });

  it('throws 503s with the Mesos texts', () => {
    for (const detail of [NO_LEADER_ELECTED, MASTER_RECOVERING]) {
      assert.throws(
        () => serviceUnavailable(detail),
        (err: unknown) =>
          isStrataError(err, 'HTTP_SERVICE_UNAVAILABLE') && err.status === 503 && err.message === detail,
      );
    }
  });
});

describe('errorToResponse', () => {
  it('maps a catalogue error to its status and a text/plain body', () => {
    const { response, unexpected } = errorToResponse(new StrataError('HTTP_MISSING_CONTENT_TYPE'));
    assert.equal(unexpected, false);
    assert.deepEqual(response, {
      status: 400,
      headers: { 'Content-Type': 'text/plain; charset=utf-8' },
      body: "Expecting 'Content-Type' to be present",
    });
  });

  it('adds Allow to a 405', () => {
    try {
      requireMethod('GET', ['POST']);
      assert.fail('expected a 405');
    } catch (err) {
      const { response } = errorToResponse(err);
      assert.equal(response.status, 405);
      assert.equal(response.headers?.Allow, 'POST');
      assert.equal(response.body, "405 Method Not Allowed. Expecting one of { 'POST' }, but received 'GET'.");
    }
  });

  it('sends an empty 404 for HTTP_NOT_FOUND', () => {
    assert.deepEqual(errorToResponse(new StrataError('HTTP_NOT_FOUND')).response, { status: 404 });
  });

  it('turns anything else into a 500 that leaks nothing', () => {
    for (const thrown of [new Error('secret at /etc/passwd'), 'a string', undefined, { stack: 'x' }]) {
      const { response, unexpected } = errorToResponse(thrown);
      assert.equal(unexpected, true);
      assert.equal(response.status, 500);
      assert.doesNotMatch(String(response.body), /secret|passwd|at |stack/);
    }
  });

  it('flags deliberate INTERNAL errors as unexpected', () => {
    assert.equal(errorToResponse(new StrataError('INTERNAL', { detail: 'x' })).unexpected, true);
  });
});
