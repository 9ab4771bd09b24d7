/**
 * Decoding a `Call` body the way every Mesos v1 endpoint answers a bad one (reference section 1.7):
 * protobuf that does not parse is `Failed to parse body into Call protobuf`; JSON that is not JSON
 * is `Failed to parse body into JSON: ...`; JSON that is no valid Call is `Failed to convert JSON
 * into Call protobuf: ...`. All three are 400s. Shared by the scheduler and operator endpoints.
 */
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import { StrataError } from '../common/errors.js';
import { codec } from '../wire/codec.js';
import { APPLICATION_JSON, type MessageMediaType } from './media.js';

function badRequest(text: string): never {
  throw new StrataError('HTTP_BAD_REQUEST', { detail: text });
}

export function decodeCallBody<Desc extends DescMessage>(
  schema: Desc,
  body: Uint8Array,
  mediaType: MessageMediaType,
): MessageShape<Desc> {
  try {
    return codec.decode(schema, body, mediaType);
  } catch (err) {
    if (!(err instanceof StrataError)) throw err;
    if (mediaType !== APPLICATION_JSON) badRequest('Failed to parse body into Call protobuf');
    if (err.code === 'WIRE_JSON_SYNTAX' || err.code === 'WIRE_TOO_DEEP' || err.code === 'WIRE_TOO_LARGE') {
      badRequest(`Failed to parse body into JSON: ${err.message}`);
    }
    badRequest(`Failed to convert JSON into Call protobuf: ${err.message}`);
  }
}

/**
 * Whether the decoded Call had a `type` on the wire: after decoding, an absent `type` and
 * `type: UNKNOWN` read the same, but Mesos answers the first with a 400 and the second with 501.
 */
export function typeFieldPresent(call: object): boolean {
  return Object.hasOwn(call, 'type');
}
