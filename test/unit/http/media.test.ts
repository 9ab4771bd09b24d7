import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ErrorCode, isStrataError } from '../../../src/common/errors.js';
import {
  acceptsEncoding,
  acceptsMediaType,
  agentRequestMessageType,
  agentResponseMessageType,
  checkAgentCallStreaming,
  type HeaderBag,
  headerValue,
  negotiateAgentApiMedia,
  refusesIdentity,
  requestMessageType,
  requireMethod,
  responseMessageType,
  shouldGzip,
} from '../../../src/http/media.js';

/** Asserts that `fn` throws catalogue error `code` whose message is exactly `message`. */
function assertFails(fn: () => unknown, code: ErrorCode, status: number, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isStrataError(err, code), `expected ${code}, got ${String(err)}`);
    assert.equal(err.status, status);
    assert.equal(err.message, message);
    return true;
  });
}

describe('headerValue', () => {
  it('looks names up case-insensitively and joins duplicates', () => {
    const headers: HeaderBag = { 'content-type': 'application/json', 'x-many': ['a', 'b'] };
    assert.equal(headerValue(headers, 'Content-Type'), 'application/json');
    assert.equal(headerValue(headers, 'X-Many'), 'a, b');
    assert.equal(headerValue(headers, 'Accept'), undefined);
  });
});

describe('requestMessageType (scheduler, executor, master operator)', () => {
  it('accepts exactly application/json and application/x-protobuf', () => {
    assert.equal(requestMessageType({ 'content-type': 'application/json' }), 'application/json');
    assert.equal(requestMessageType({ 'content-type': 'application/x-protobuf' }), 'application/x-protobuf');
  });

  it('400s a missing Content-Type with the Mesos text', () => {
    assertFails(
      () => requestMessageType({}),
      'HTTP_MISSING_CONTENT_TYPE',
      400,
      "Expecting 'Content-Type' to be present",
    );
  });

  it('415s anything else, parameters and case included', () => {
    for (const contentType of [
      'application/json; charset=utf-8',
      'Application/JSON',
      'application/json ',
      'text/plain',
      'application/recordio',
      '',
    ]) {
      assertFails(
        () => requestMessageType({ 'content-type': contentType }),
        'HTTP_UNSUPPORTED_CONTENT_TYPE',
        415,
        "Expecting 'Content-Type' of application/json or application/x-protobuf",
      );
    }
  });
});

describe('acceptsMediaType (libprocess rules)', () => {
  const json = 'application/json';
  const cases: Array<[string | undefined, boolean]> = [
    [undefined, true],
    ['', false],
    ['application/json', true],
    ['application/x-protobuf', false],
    ['application/*', true],
    ['*/*', true],
    ['text/*', false],
    ['APPLICATION/JSON', true],
    [' application / json ', true],
    ['text/html,\tapplication/json', true],
    ['application/json;q=0', false],
    ['application/json; q=0.0', false],
    ['application/json;q=0.001', true],
    ['application/json;q=1', true],
    ['application/json;q=-1', false],
    ['application/json;q=abc', true],
    ['application/json;q=', true],
    ['application/json;q=0;q=0', true],
    ['application/json;level=1;q=0', false],
    ['application/json;Q=0', true],
    // The exact type decides before any wildcard, whatever the order or the wildcard's q.
    ['*/*, application/json;q=0', false],
    ['application/json;q=0, */*', false],
    ['application/*;q=0, */*', false],
    ['application/*, */*;q=0', true],
    ['*/*;q=0', false],
    // The first matching entry decides.
    ['application/json;q=0, application/json', false],
    [',,application/json,,', true],
    [';;', false],
  ];
  for (const [accept, expected] of cases) {
    it(`${JSON.stringify(accept)} -> ${expected ? 'acceptable' : 'not acceptable'}`, () => {
      assert.equal(acceptsMediaType(accept, json), expected);
    });
  }

  it('refuses a media type that is not type/subtype', () => {
    assert.equal(acceptsMediaType('*/*', 'json'), false);
    assert.equal(acceptsMediaType('*/*', 'a/b/c'), false);
  });
});

describe('responseMessageType', () => {
  const cases: Array<[string | undefined, string]> = [
    [undefined, 'application/json'],
    ['*/*', 'application/json'],
    ['application/json', 'application/json'],
    ['application/x-protobuf', 'application/x-protobuf'],
    // JSON is tested first, so it wins whenever it is acceptable at all.
    ['application/x-protobuf, application/json', 'application/json'],
    ['application/x-protobuf;q=1, application/json;q=0.1', 'application/json'],
    ['application/x-protobuf, application/json;q=0', 'application/x-protobuf'],
    ['application/*, application/json;q=0', 'application/x-protobuf'],
  ];
  for (const [accept, expected] of cases) {
    it(`${JSON.stringify(accept)} -> ${expected}`, () => {
      assert.equal(responseMessageType(accept === undefined ? {} : { accept }), expected);
    });
  }

  it('406s with the Mesos text when neither is acceptable', () => {
    for (const accept of [
      'text/html',
      'application/recordio',
      'application/json;q=0, application/x-protobuf;q=0',
    ]) {
      assertFails(
        () => responseMessageType({ accept }),
        'HTTP_NOT_ACCEPTABLE',
        406,
        "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'",
      );
    }
  });
});

describe('requireMethod', () => {
  it('passes an allowed method', () => {
    requireMethod('POST', ['POST']);
    requireMethod('GET', ['GET', 'POST']);
  });

  it('405s with the exact libprocess body and the Allow value in params', () => {
    assert.throws(
      () => requireMethod('GET', ['POST']),
      (err: unknown) => {
        assert.ok(isStrataError(err, 'HTTP_METHOD_NOT_ALLOWED'));
        assert.equal(err.status, 405);
        assert.equal(err.message, "405 Method Not Allowed. Expecting one of { 'POST' }, but received 'GET'.");
        assert.equal(err.params.allow, 'POST');
        return true;
      },
    );
    assert.throws(
      () => requireMethod('DELETE', ['GET', 'POST']),
      (err: unknown) =>
        isStrataError(err, 'HTTP_METHOD_NOT_ALLOWED') &&
        err.message ===
          "405 Method Not Allowed. Expecting one of { 'GET', 'POST' }, but received 'DELETE'." &&
        err.params.allow === 'GET, POST',
    );
  });

  it('compares methods case-sensitively, as HTTP does', () => {
    assert.throws(
      () => requireMethod('post', ['POST']),
      (err: unknown) => isStrataError(err, 'HTTP_METHOD_NOT_ALLOWED'),
    );
  });
});

describe('gzip policy', () => {
  it('acceptsEncoding follows libprocess: explicit coding, then *', () => {
    const cases: Array<[string | undefined, boolean]> = [
      [undefined, false],
      ['', false],
      ['gzip', true],
      ['GZIP', true],
      ['deflate, gzip', true],
      ['gzip;q=0', false],
      ['gzip;q=0.5', true],
      ['gzip;q=abc', false],
      ['gzip;q=0;q=0', true],
      ['*', true],
      ['*;q=0', false],
      ['gzip;q=0, *', false],
      ['*;q=0, gzip', true],
      ['deflate', false],
      ['identity', false],
      ['gzip, deflate, br', true],
    ];
    for (const [header, expected] of cases) {
      assert.equal(acceptsEncoding(header, 'gzip'), expected, JSON.stringify(header));
    }
  });

  it('knows when identity is refused', () => {
    assert.equal(refusesIdentity(undefined), false);
    assert.equal(refusesIdentity('gzip'), false);
    assert.equal(refusesIdentity('identity;q=0, gzip'), true);
    assert.equal(refusesIdentity('*;q=0, gzip'), true);
    assert.equal(refusesIdentity('*;q=0, identity, gzip'), false);
  });

  it('gzips bodies of at least 1024 bytes only, and never streams', () => {
    const headers = { 'accept-encoding': 'gzip, deflate' };
    assert.equal(shouldGzip(headers, { bodyBytes: 1023, streaming: false }), false);
    assert.equal(shouldGzip(headers, { bodyBytes: 1024, streaming: false }), true);
    assert.equal(shouldGzip(headers, { bodyBytes: 1 << 20, streaming: true }), false);
    assert.equal(shouldGzip(headers, { bodyBytes: 4096, streaming: false, alreadyEncoded: true }), false);
    assert.equal(shouldGzip({}, { bodyBytes: 4096, streaming: false }), false);
    assert.equal(shouldGzip({ 'accept-encoding': 'gzip;q=0' }, { bodyBytes: 4096, streaming: false }), false);
  });

  it('gzips small bodies when the client refuses identity', () => {
    const headers = { 'accept-encoding': 'gzip, identity;q=0' };
    assert.equal(shouldGzip(headers, { bodyBytes: 10, streaming: false }), true);
    assert.equal(shouldGzip(headers, { bodyBytes: 0, streaming: false }), false);
  });
});

describe('agent operator API media (streaming)', () => {
  const json = 'application/json';
  const protobuf = 'application/x-protobuf';
  const recordio = 'application/recordio';

  it('negotiates plain JSON and protobuf like the master', () => {
    assert.deepEqual(negotiateAgentApiMedia({ 'content-type': json }), { content: json, accept: json });
    assert.deepEqual(negotiateAgentApiMedia({ 'content-type': protobuf, accept: protobuf }), {
      content: protobuf,
      accept: protobuf,
    });
  });

  it('takes a streamed request body with Message-Content-Type', () => {
    const media = negotiateAgentApiMedia({ 'content-type': recordio, 'message-content-type': protobuf });
    assert.deepEqual(media, { content: recordio, messageContent: protobuf, accept: json });
    assert.equal(agentRequestMessageType(media), protobuf);
    assert.equal(agentResponseMessageType(media), json);
  });

  it('streams the response with Accept: application/recordio, Message-Accept defaulting to JSON', () => {
    const media = negotiateAgentApiMedia({ 'content-type': json, accept: recordio });
    assert.deepEqual(media, { content: json, accept: recordio, messageAccept: json });
    const pb = negotiateAgentApiMedia({ 'content-type': json, accept: recordio, 'message-accept': protobuf });
    assert.equal(agentResponseMessageType(pb), protobuf);
  });

  it('prefers a plain response when Accept also allows JSON or protobuf', () => {
    assert.equal(
      negotiateAgentApiMedia({ 'content-type': json, accept: `${recordio}, ${json}` }).accept,
      json,
    );
    assert.equal(negotiateAgentApiMedia({ 'content-type': json, accept: '*/*' }).accept, json);
  });

  it('answers each header problem with the agent texts and statuses', () => {
    assertFails(
      () => negotiateAgentApiMedia({}),
      'HTTP_MISSING_CONTENT_TYPE',
      400,
      "Expecting 'Content-Type' to be present",
    );
    assertFails(
      () => negotiateAgentApiMedia({ 'content-type': 'text/plain' }),
      'HTTP_UNSUPPORTED_CONTENT_TYPE',
      415,
      "Expecting 'Content-Type' of application/json or application/x-protobuf or application/recordio",
    );
    assertFails(
      () => negotiateAgentApiMedia({ 'content-type': recordio }),
      'HTTP_MISSING_MESSAGE_CONTENT_TYPE',
      400,
      "Expecting 'Message-Content-Type' to be set for streaming requests",
    );
    assertFails(
      () => negotiateAgentApiMedia({ 'content-type': recordio, 'message-content-type': recordio }),
      'HTTP_UNSUPPORTED_MESSAGE_CONTENT_TYPE',
      415,
      "Expecting 'Message-Content-Type' of application/json or application/x-protobuf",
    );
    assertFails(
      () => negotiateAgentApiMedia({ 'content-type': json, 'message-content-type': json }),
      'HTTP_UNEXPECTED_MESSAGE_CONTENT_TYPE',
      415,
      "Expecting 'Message-Content-Type' to be not set for non-streaming requests",
    );
    assertFails(
      () => negotiateAgentApiMedia({ 'content-type': json, accept: 'text/html' }),
      'HTTP_NOT_ACCEPTABLE',
      406,
      "Expecting 'Accept' to allow application/json or application/x-protobuf or application/recordio",
    );
    assertFails(
      () => negotiateAgentApiMedia({ 'content-type': json, accept: recordio, 'message-accept': 'text/html' }),
      'HTTP_MESSAGE_ACCEPT_NOT_ACCEPTABLE',
      406,
      "Expecting 'Message-Accept' to allow application/json or application/x-protobuf",
    );
    assertFails(
      () => negotiateAgentApiMedia({ 'content-type': json, 'message-accept': json }),
      'HTTP_UNEXPECTED_MESSAGE_ACCEPT',
      406,
      "Expecting 'Message-Accept' to be not set for non-streaming responses",
    );
  });

  it('checks content before accept, as the agent does', () => {
    assert.throws(
      () => negotiateAgentApiMedia({ 'content-type': 'text/plain', accept: 'text/html' }),
      (err: unknown) => isStrataError(err, 'HTTP_UNSUPPORTED_CONTENT_TYPE'),
    );
  });

  describe('per-call streaming rules', () => {
    const plain = { content: json, accept: json } as const;
    const streamedIn = { content: recordio, messageContent: json, accept: json } as const;
    const streamedOut = { content: json, accept: recordio, messageAccept: json } as const;

    it('lets only ATTACH_CONTAINER_INPUT stream its body, and requires it to', () => {
      checkAgentCallStreaming(streamedIn, 'ATTACH_CONTAINER_INPUT');
      assertFails(
        () => checkAgentCallStreaming(streamedIn, 'GET_STATE'),
        'HTTP_STREAMING_REQUEST_UNSUPPORTED',
        415,
        "Streaming 'Content-Type' application/recordio is not supported for GET_STATE call",
      );
      assertFails(
        () => checkAgentCallStreaming(plain, 'ATTACH_CONTAINER_INPUT'),
        'HTTP_STREAMING_REQUEST_REQUIRED',
        415,
        "Expecting 'Content-Type' to be application/recordio for ATTACH_CONTAINER_INPUT call",
      );
    });

    it('lets only ATTACH_CONTAINER_OUTPUT and LAUNCH_NESTED_CONTAINER_SESSION stream the response', () => {
      checkAgentCallStreaming(streamedOut, 'ATTACH_CONTAINER_OUTPUT');
      checkAgentCallStreaming(streamedOut, 'LAUNCH_NESTED_CONTAINER_SESSION');
      checkAgentCallStreaming(plain, 'ATTACH_CONTAINER_OUTPUT');
      checkAgentCallStreaming(plain, 'GET_STATE');
      assertFails(
        () => checkAgentCallStreaming(streamedOut, 'GET_STATE'),
        'HTTP_STREAMING_RESPONSE_UNSUPPORTED',
        406,
        'Streaming response is not supported for GET_STATE call',
      );
    });
  });
});

describe('garbage headers', () => {
  it('never throws anything but catalogue errors', () => {
    let seed = 99;
    const next = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed;
    };
    const alphabet = 'abcjsonx-/*;=,q0.1 \t\n*application/recordio';
    const junk = () => Array.from({ length: next() % 40 }, () => alphabet[next() % alphabet.length]).join('');
    for (let i = 0; i < 2000; i++) {
      const headers = {
        'content-type': junk(),
        accept: junk(),
        'message-accept': junk(),
        'message-content-type': junk(),
        'accept-encoding': junk(),
      };
      for (const attempt of [
        () => requestMessageType(headers),
        () => responseMessageType(headers),
        () => negotiateAgentApiMedia(headers),
        () => shouldGzip(headers, { bodyBytes: 2048, streaming: false }),
      ]) {
        try {
          attempt();
        } catch (err) {
          assert.ok(isStrataError(err), String(err));
          assert.ok([400, 406, 415].includes(err.status));
        }
      }
    }
  });
});
