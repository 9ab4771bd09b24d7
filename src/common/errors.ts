/**
 * The one error catalogue. Every error Strata raises on purpose has a stable code here, the HTTP
 * status it maps to when it reaches an endpoint, and a message template. Handlers throw
 * `StrataError`s; one place (src/http) turns them into responses. Codes are part of our surface:
 * never rename or reuse one, only add.
 *
 * Templates use `{name}` placeholders filled from the params given to `fail()`/`StrataError.of()`.
 */
export const errorCatalogue = {
  // --- wire: codecs (JSON mapping, protobuf, RecordIO) ---
  WIRE_JSON_SYNTAX: { status: 400, template: 'invalid JSON at offset {offset}: {detail}' },
  WIRE_JSON_TYPE: { status: 400, template: "field '{field}': expected {expected}, got {actual}" },
  WIRE_JSON_NOT_OBJECT: { status: 400, template: "'{field}': expected a JSON object for message {message}" },
  WIRE_MISSING_REQUIRED: { status: 400, template: 'Missing required fields: {fields}' },
  WIRE_BAD_ENUM: { status: 400, template: "field '{field}': unknown value '{value}' of enum {enum}" },
  WIRE_BAD_BASE64: { status: 400, template: "field '{field}': invalid base64" },
  WIRE_NUMBER_RANGE: { status: 400, template: "field '{field}': {value} is out of range for {type}" },
  WIRE_PROTO_DECODE: { status: 400, template: 'invalid protobuf for {message}: {detail}' },
  WIRE_TOO_DEEP: { status: 400, template: 'input nests deeper than {limit} levels' },
  WIRE_TOO_LARGE: { status: 413, template: 'input of {size} bytes exceeds the limit of {limit} bytes' },
  RECORDIO_BAD_LENGTH: { status: 400, template: 'RecordIO: invalid record length prefix {prefix}' },
  RECORDIO_TOO_LARGE: {
    status: 413,
    template: 'RecordIO: record of {length} bytes exceeds the limit of {limit}',
  },
  RECORDIO_TRUNCATED: {
    status: 400,
    template: 'RecordIO: stream ended inside a record ({missing} bytes missing)',
  },

  // --- http: transport, media types, routing ---
  HTTP_NOT_FOUND: { status: 404, template: '' },
  HTTP_METHOD_NOT_ALLOWED: {
    status: 405,
    template: "405 Method Not Allowed. Expecting one of { {allowed} }, but received '{method}'.",
  },
  HTTP_MISSING_CONTENT_TYPE: { status: 400, template: "Expecting 'Content-Type' to be present" },
  HTTP_UNSUPPORTED_CONTENT_TYPE: { status: 415, template: "Expecting 'Content-Type' of {expected}" },
  HTTP_NOT_ACCEPTABLE: { status: 406, template: "Expecting 'Accept' to allow {expected}" },
  HTTP_BAD_REQUEST: { status: 400, template: '{detail}' },
  HTTP_BODY_TOO_LARGE: { status: 413, template: 'request body exceeds {limit} bytes' },
  HTTP_SERVICE_UNAVAILABLE: { status: 503, template: '{detail}' },
  HTTP_NOT_IMPLEMENTED: { status: 501, template: '{detail}' },
  HTTP_FORBIDDEN: { status: 403, template: '{detail}' },
  HTTP_CONFLICT: { status: 409, template: '{detail}' },
  HTTP_MISSING_MESSAGE_CONTENT_TYPE: {
    status: 400,
    template: "Expecting 'Message-Content-Type' to be set for streaming requests",
  },
  HTTP_UNSUPPORTED_MESSAGE_CONTENT_TYPE: {
    status: 415,
    template: "Expecting 'Message-Content-Type' of {expected}",
  },
  HTTP_UNEXPECTED_MESSAGE_CONTENT_TYPE: {
    status: 415,
    template: "Expecting 'Message-Content-Type' to be not set for non-streaming requests",
  },
  HTTP_STREAMING_REQUEST_UNSUPPORTED: {
    status: 415,
    template: "Streaming 'Content-Type' {contentType} is not supported for {call} call",
  },
  HTTP_STREAMING_REQUEST_REQUIRED: {
    status: 415,
    template: "Expecting 'Content-Type' to be {expected} for {call} call",
  },
  HTTP_MESSAGE_ACCEPT_NOT_ACCEPTABLE: {
    status: 406,
    template: "Expecting 'Message-Accept' to allow {expected}",
  },
  HTTP_UNEXPECTED_MESSAGE_ACCEPT: {
    status: 406,
    template: "Expecting 'Message-Accept' to be not set for non-streaming responses",
  },
  HTTP_STREAMING_RESPONSE_UNSUPPORTED: {
    status: 406,
    template: 'Streaming response is not supported for {call} call',
  },

  // --- resources ---
  RESOURCES_PARSE: { status: 400, template: "invalid resources '{input}': {detail}" },
  RESOURCES_INVALID: { status: 400, template: 'invalid resource {resource}: {detail}' },
  RESOURCES_INSUFFICIENT: { status: 409, template: '{detail}' },
  ATTRIBUTES_PARSE: { status: 400, template: "invalid attributes '{input}': {detail}" },

  // --- ids ---
  ID_INVALID: { status: 400, template: "invalid {kind} '{value}': {detail}" },

  // --- options (flags, STRATA_* environment) ---
  OPTIONS_UNKNOWN_FLAG: { status: 400, template: "unknown flag '--{flag}'{hint}" },
  OPTIONS_BAD_VALUE: { status: 400, template: "flag '--{flag}': {detail}" },
  OPTIONS_MISSING: { status: 400, template: "flag '--{flag}' is required" },
  OPTIONS_CONFLICT: { status: 400, template: '{detail}' },

  // --- executors (built-in command executor, executor library) ---
  EXECUTOR_ENV_MISSING: {
    status: 400,
    template: "Expecting '{variable}' to be set in the environment",
  },
  EXECUTOR_ENV_INVALID: {
    status: 400,
    template: "Failed to parse value '{value}' of '{variable}': {detail}",
  },
  EXECUTOR_AGENT_REJECTED: { status: 502, template: 'agent answered {call} with {httpStatus}: {detail}' },

  // --- agent restart recovery ---
  AGENT_RECOVERY_FAILED: { status: 500, template: 'Agent recovery failed: {detail}' },

  // --- containerizer (src/containerizer) ---
  AGENT_BAD_ISOLATION: { status: 400, template: 'Cannot start with this isolation: {detail}' },
  CONTAINER_RUNTIME_UNAVAILABLE: { status: 500, template: 'The container runtime is unavailable: {detail}' },

  // --- master operator API ---
  /** A resuming operator SUBSCRIBE whose missed events are gone (Strata extension, 410 Gone). */
  OPERATOR_STREAM_RESYNC: {
    status: 410,
    template:
      'Cannot resume the event stream after offset {offset}: {why}. SUBSCRIBE again without an offset to resync from a full snapshot',
  },

  // --- images: the provisioner (registry client, blob/layer store, backends, image GC) ---
  IMAGE_REFERENCE_INVALID: { status: 400, template: "invalid image reference '{reference}': {detail}" },
  IMAGE_NOT_FOUND: { status: 404, template: "image '{image}' not found: {detail}" },
  IMAGE_REGISTRY_ERROR: {
    status: 502,
    template: "registry {registry} answered {httpStatus} for {what} of '{image}': {detail}",
  },
  IMAGE_REGISTRY_UNREACHABLE: {
    status: 502,
    template: "registry {registry} unreachable for '{image}' after {attempts} attempts: {detail}",
  },
  IMAGE_AUTH_FAILED: {
    status: 502,
    template: "registry {registry} refused credentials for '{image}': {detail}",
  },
  IMAGE_DIGEST_MISMATCH: {
    status: 502,
    template: "{what} of '{image}' failed verification: expected {expected}, got {actual}; nothing was kept",
  },
  IMAGE_MANIFEST_UNSUPPORTED: { status: 502, template: "image '{image}': unsupported manifest: {detail}" },
  IMAGE_NO_MATCHING_PLATFORM: {
    status: 400,
    template: "image '{image}' has no manifest for platform {platform} (available: {available})",
  },
  IMAGE_LAYER_UNSAFE: {
    status: 400,
    template: "layer {layer} of '{image}' is unsafe: entry '{entry}' {why}; nothing was kept",
  },
  IMAGE_LAYER_INVALID: {
    status: 400,
    template: "layer {layer} of '{image}' is corrupt: {detail}; nothing was kept",
  },
  IMAGE_LAYER_EXTRACT_FAILED: {
    status: 500,
    template: "layer {layer} of '{image}' could not be unpacked: {detail}",
  },
  IMAGE_ARCHIVE_INVALID: { status: 400, template: 'local image archive {path}: {detail}' },
  PROVISIONER_BACKEND_FAILED: {
    status: 500,
    template:
      'provisioner backend {backend} could not {action} the rootfs of container {container}: {detail}',
  },
  PROVISIONER_CONTAINER_EXISTS: {
    status: 409,
    template: 'container {container} already has a provisioned rootfs',
  },
  PROVISIONER_GC_BUSY: { status: 409, template: 'image GC refused: {detail}' },
  PROVISIONER_CONFIG_INVALID: { status: 400, template: "flag '--{flag}': {detail}" },
  IMAGE_COMMAND_INVALID: {
    status: 400,
    template: 'cannot build the launch command from image {image}: {detail}',
  },

  // --- catch-all for bugs: never thrown on purpose for bad input ---
  INTERNAL: { status: 500, template: 'internal error: {detail}' },
} as const satisfies Record<string, { status: number; template: string }>;

export type ErrorCode = keyof typeof errorCatalogue;
export type ErrorParams = Record<string, string | number | bigint | boolean>;

function render(template: string, params: ErrorParams): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) =>
    key in params ? String(params[key]) : whole,
  );
}

export class StrataError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly params: ErrorParams;

  constructor(code: ErrorCode, params: ErrorParams = {}, options?: { cause?: unknown }) {
    super(render(errorCatalogue[code].template, params), options);
    this.name = 'StrataError';
    this.code = code;
    this.status = errorCatalogue[code].status;
    this.params = params;
  }

  static of(code: ErrorCode, params: ErrorParams = {}): StrataError {
    return new StrataError(code, params);
  }
}

/** Throws the catalogue error `code`; typed `never` so it ends control flow. */
export function fail(code: ErrorCode, params: ErrorParams = {}, options?: { cause?: unknown }): never {
  throw new StrataError(code, params, options);
}

export function isStrataError(err: unknown, code?: ErrorCode): err is StrataError {
  return err instanceof StrataError && (code === undefined || err.code === code);
}
