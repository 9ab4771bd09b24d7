/**
 * Media-type negotiation exactly as Mesos answers it (reference §1.3, §1.7): which request bodies
 * an endpoint takes, which response type it picks, the agent's RecordIO streaming rules, 405s, and
 * when a response is gzipped. Pure functions over header values; every refusal is a catalogue error
 * whose message is the byte-exact body Mesos sends, because clients and tests compare those texts.
 */
import { fail } from '../common/errors.js';

export const APPLICATION_JSON = 'application/json';
export const APPLICATION_PROTOBUF = 'application/x-protobuf';
export const APPLICATION_RECORDIO = 'application/recordio';
export const TEXT_PLAIN_UTF8 = 'text/plain; charset=utf-8';
export const TEXT_JAVASCRIPT = 'text/javascript';

export const MESSAGE_CONTENT_TYPE = 'Message-Content-Type';
export const MESSAGE_ACCEPT = 'Message-Accept';

/** Bodies at least this long are gzipped when the client allows it (libprocess' threshold). */
export const GZIP_MIN_BODY_BYTES = 1024;

/** The two encodings a Call or Event message can travel in. */
export type MessageMediaType = typeof APPLICATION_JSON | typeof APPLICATION_PROTOBUF;
/** What the agent operator API additionally allows around messages: a RecordIO stream of them. */
export type AgentMediaType = MessageMediaType | typeof APPLICATION_RECORDIO;

/**
 * Request headers as node:http delivers them: lower-case names, a value or (for a few headers) an
 * array. Lookups here lower-case the name, so callers may use the canonical spelling.
 */
export type HeaderBag = Readonly<Record<string, string | readonly string[] | undefined>>;

export function headerValue(headers: HeaderBag, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.join(', ');
}

const MESSAGE_TYPES_TEXT = `${APPLICATION_JSON} or ${APPLICATION_PROTOBUF}`;
const AGENT_TYPES_TEXT = `${APPLICATION_JSON} or ${APPLICATION_PROTOBUF} or ${APPLICATION_RECORDIO}`;
// The scheduler, executor and master operator endpoints quote the types, protobuf first.
const MESSAGE_ACCEPT_TEXT = `'${APPLICATION_PROTOBUF}' or '${APPLICATION_JSON}'`;

/**
 * The Content-Type of a Call body on the scheduler, executor and master operator endpoints.
 * Exact string equality, no parameter stripping: `application/json; charset=utf-8` is a 415.
 */
export function requestMessageType(headers: HeaderBag): MessageMediaType {
  const contentType = headerValue(headers, 'Content-Type');
  if (contentType === undefined) fail('HTTP_MISSING_CONTENT_TYPE');
  if (contentType === APPLICATION_JSON || contentType === APPLICATION_PROTOBUF) return contentType;
  fail('HTTP_UNSUPPORTED_CONTENT_TYPE', { expected: MESSAGE_TYPES_TEXT });
}

/** The response type for those endpoints: JSON whenever acceptable, else protobuf, else 406. */
export function responseMessageType(headers: HeaderBag): MessageMediaType {
  const accept = headerValue(headers, 'Accept');
  if (acceptsMediaType(accept, APPLICATION_JSON)) return APPLICATION_JSON;
  if (acceptsMediaType(accept, APPLICATION_PROTOBUF)) return APPLICATION_PROTOBUF;
  fail('HTTP_NOT_ACCEPTABLE', { expected: MESSAGE_ACCEPT_TEXT });
}

/**
 * libprocess `acceptsMediaType`: is `mediaType` acceptable under this Accept header value?
 * Absent header: everything is. Spaces, tabs and newlines are removed, the list is split on commas
 * and each entry on semicolons; the first entry whose range equals `type/subtype` decides, else the
 * first equal to `type/*`, else the first `*\/*` (case-insensitive). The deciding entry refuses only
 * with a numeric q that is not above zero; a missing, repeated or unparsable q counts as
 * acceptable. A present but empty header accepts nothing, as in libprocess.
 */
export function acceptsMediaType(accept: string | undefined, mediaType: string): boolean {
  if (accept === undefined) return true;
  const [type, subtype, ...rest] = mediaType.split('/').filter((part) => part !== '');
  if (type === undefined || subtype === undefined || rest.length > 0) return false;
  const candidates = [`${type}/${subtype}`, `${type}/*`, '*/*'];
  const entries = parseQualityList(accept);
  for (const candidate of candidates) {
    const entry = entries.find((e) => e.name === candidate.toLowerCase());
    if (entry) return entry.acceptable;
  }
  return false;
}

/**
 * libprocess `acceptsEncoding`: the explicitly named coding decides, else `*`. An absent or empty
 * Accept-Encoding allows nothing but identity (so never gzip). A repeated or malformed `q`
 * parameter counts as acceptable; a `q` that is not a number above zero refuses.
 */
export function acceptsEncoding(acceptEncoding: string | undefined, encoding: string): boolean {
  if (acceptEncoding === undefined || acceptEncoding === '') return false;
  const entries = parseQualityList(acceptEncoding, { strictQ: true });
  for (const candidate of [encoding.toLowerCase(), '*']) {
    const entry = entries.find((e) => e.name === candidate);
    if (entry) return entry.acceptable;
  }
  return false;
}

/**
 * Whether identity (no content coding) is refused: `identity;q=0`, or `*;q=0` with identity not
 * listed. Such a client gets gzip even for small bodies, the only coding we can offer instead.
 */
export function refusesIdentity(acceptEncoding: string | undefined): boolean {
  if (acceptEncoding === undefined || acceptEncoding === '') return false;
  const entries = parseQualityList(acceptEncoding, { strictQ: true });
  const identity = entries.find((e) => e.name === 'identity') ?? entries.find((e) => e.name === '*');
  return identity !== undefined && !identity.acceptable;
}

/** The gzip policy: streams never; otherwise bodies of at least 1 KiB the client accepts gzip for. */
export function shouldGzip(
  headers: HeaderBag,
  response: { bodyBytes: number; streaming: boolean; alreadyEncoded?: boolean },
): boolean {
  if (response.streaming || response.alreadyEncoded || response.bodyBytes === 0) return false;
  const acceptEncoding = headerValue(headers, 'Accept-Encoding');
  if (!acceptsEncoding(acceptEncoding, 'gzip')) return false;
  return response.bodyBytes >= GZIP_MIN_BODY_BYTES || refusesIdentity(acceptEncoding);
}

/**
 * 405 unless `method` is one of `allowed`. The error carries the `Allow` header value in its params
 * (`allow`); the HTTP layer turns it into the header.
 */
export function requireMethod(method: string, allowed: readonly string[]): void {
  if (allowed.includes(method)) return;
  fail('HTTP_METHOD_NOT_ALLOWED', {
    allowed: allowed.map((m) => `'${m}'`).join(', '),
    method,
    allow: allowed.join(', '),
  });
}

/** The agent operator API's negotiated media types (reference §1.3, "Streaming"). */
export interface AgentApiMediaTypes {
  /** The request's Content-Type; `application/recordio` means a stream of `messageContent` Calls. */
  content: AgentMediaType;
  /** The response type; `application/recordio` means a stream of `messageAccept` messages. */
  accept: AgentMediaType;
  /** Set exactly when `content` is RecordIO. */
  messageContent?: MessageMediaType;
  /** Set exactly when `accept` is RecordIO (JSON when the client sent no Message-Accept). */
  messageAccept?: MessageMediaType;
}

/** Agent operator calls allowed to (and required to) stream their request body. */
export const AGENT_STREAMING_REQUEST_CALLS: ReadonlySet<string> = new Set(['ATTACH_CONTAINER_INPUT']);
/** Agent operator calls allowed to answer with a RecordIO stream. */
export const AGENT_STREAMING_RESPONSE_CALLS: ReadonlySet<string> = new Set([
  'ATTACH_CONTAINER_OUTPUT',
  'LAUNCH_NESTED_CONTAINER_SESSION',
]);

/**
 * The header-level checks of the agent `/api/v1`, in the agent's order: Content-Type (400/415),
 * Message-Content-Type (400/415), Accept (406), Message-Accept (406). Call-type rules come later,
 * once the first Call is decoded: see `checkAgentCallStreaming`.
 */
export function negotiateAgentApiMedia(headers: HeaderBag): AgentApiMediaTypes {
  const contentType = headerValue(headers, 'Content-Type');
  if (contentType === undefined) fail('HTTP_MISSING_CONTENT_TYPE');
  if (!isAgentMediaType(contentType)) fail('HTTP_UNSUPPORTED_CONTENT_TYPE', { expected: AGENT_TYPES_TEXT });

  const messageContentHeader = headerValue(headers, MESSAGE_CONTENT_TYPE);
  let messageContent: MessageMediaType | undefined;
  if (contentType === APPLICATION_RECORDIO) {
    if (messageContentHeader === undefined) fail('HTTP_MISSING_MESSAGE_CONTENT_TYPE');
    if (messageContentHeader !== APPLICATION_JSON && messageContentHeader !== APPLICATION_PROTOBUF) {
      fail('HTTP_UNSUPPORTED_MESSAGE_CONTENT_TYPE', { expected: MESSAGE_TYPES_TEXT });
    }
    messageContent = messageContentHeader;
  } else if (messageContentHeader !== undefined) {
    fail('HTTP_UNEXPECTED_MESSAGE_CONTENT_TYPE');
  }

  const acceptHeader = headerValue(headers, 'Accept');
  let accept: AgentMediaType;
  if (acceptsMediaType(acceptHeader, APPLICATION_JSON)) accept = APPLICATION_JSON;
  else if (acceptsMediaType(acceptHeader, APPLICATION_PROTOBUF)) accept = APPLICATION_PROTOBUF;
  else if (acceptsMediaType(acceptHeader, APPLICATION_RECORDIO)) accept = APPLICATION_RECORDIO;
  else fail('HTTP_NOT_ACCEPTABLE', { expected: AGENT_TYPES_TEXT });

  const messageAcceptHeader = headerValue(headers, MESSAGE_ACCEPT);
  let messageAccept: MessageMediaType | undefined;
  if (accept === APPLICATION_RECORDIO) {
    if (acceptsMediaType(messageAcceptHeader, APPLICATION_JSON)) messageAccept = APPLICATION_JSON;
    else if (acceptsMediaType(messageAcceptHeader, APPLICATION_PROTOBUF))
      messageAccept = APPLICATION_PROTOBUF;
    else fail('HTTP_MESSAGE_ACCEPT_NOT_ACCEPTABLE', { expected: MESSAGE_TYPES_TEXT });
  } else if (messageAcceptHeader !== undefined) {
    fail('HTTP_UNEXPECTED_MESSAGE_ACCEPT');
  }

  const media: AgentApiMediaTypes = { content: contentType, accept };
  if (messageContent !== undefined) media.messageContent = messageContent;
  if (messageAccept !== undefined) media.messageAccept = messageAccept;
  return media;
}

/**
 * The call-level streaming rules, applied after the (first) Call is decoded: only
 * ATTACH_CONTAINER_INPUT may stream its body and it must; only ATTACH_CONTAINER_OUTPUT and
 * LAUNCH_NESTED_CONTAINER_SESSION may stream their response. `callType` is the enum name.
 */
export function checkAgentCallStreaming(media: AgentApiMediaTypes, callType: string): void {
  const streamsRequest = media.content === APPLICATION_RECORDIO;
  if (streamsRequest && !AGENT_STREAMING_REQUEST_CALLS.has(callType)) {
    fail('HTTP_STREAMING_REQUEST_UNSUPPORTED', { contentType: media.content, call: callType });
  }
  if (!streamsRequest && AGENT_STREAMING_REQUEST_CALLS.has(callType)) {
    fail('HTTP_STREAMING_REQUEST_REQUIRED', { expected: APPLICATION_RECORDIO, call: callType });
  }
  if (media.accept === APPLICATION_RECORDIO && !AGENT_STREAMING_RESPONSE_CALLS.has(callType)) {
    fail('HTTP_STREAMING_RESPONSE_UNSUPPORTED', { call: callType });
  }
}

/** The type each decoded message of the request is in (the stream's element type when streaming). */
export function agentRequestMessageType(media: AgentApiMediaTypes): MessageMediaType {
  return media.messageContent ?? (media.content as MessageMediaType);
}

/** The type each response message is encoded in (the stream's element type when streaming). */
export function agentResponseMessageType(media: AgentApiMediaTypes): MessageMediaType {
  return media.messageAccept ?? (media.accept as MessageMediaType);
}

function isAgentMediaType(value: string): value is AgentMediaType {
  return value === APPLICATION_JSON || value === APPLICATION_PROTOBUF || value === APPLICATION_RECORDIO;
}

interface QualityEntry {
  /** Lower-cased range or coding, e.g. `application/json`, `text/*`, `gzip`, `*`. */
  name: string;
  acceptable: boolean;
}

/**
 * Splits an Accept / Accept-Encoding value the libprocess way. `strictQ` is the Accept-Encoding
 * reading of an unparsable q (refuse); Accept negotiation treats it as acceptable (reference §1.3).
 */
function parseQualityList(header: string, options: { strictQ?: boolean } = {}): QualityEntry[] {
  const compact = header.replace(/[ \t\n]/g, '');
  const entries: QualityEntry[] = [];
  for (const item of compact.split(',')) {
    const [name, ...parameters] = item.split(';').filter((token) => token !== '');
    if (name === undefined) continue;
    entries.push({
      name: name.toLowerCase(),
      acceptable: qualityAllows(parameters, options.strictQ ?? false),
    });
  }
  return entries;
}

function qualityAllows(parameters: readonly string[], strictQ: boolean): boolean {
  const qValues: string[] = [];
  for (const parameter of parameters) {
    const pair = parameter.split('=').filter((token) => token !== '');
    if (pair.length === 2 && pair[0] === 'q') qValues.push(pair[1]!);
  }
  const [q, ...more] = qValues;
  if (q === undefined || more.length > 0) return true;
  const value = parseDecimal(q);
  if (value === undefined) return !strictQ;
  return value > 0;
}

/** A plain decimal number (`1`, `0.5`, `.5`, `-0`); anything else (hex, `1e3`, `abc`) is undefined. */
function parseDecimal(text: string): number | undefined {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(text)) return undefined;
  return Number(text);
}
