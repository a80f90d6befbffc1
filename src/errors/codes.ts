/**
 * Every error code inferq can emit, in one place (as Fastify keeps `FST_ERR_*`).
 * A code is never reused for another meaning; `docs/errors.md` documents each one and
 * `test/errors/codes.test.ts` fails when the two drift apart.
 */
export const errorCodes = {
  // configuration
  INFERQ_CONFIG_INVALID: { status: 500, title: 'Configuration is invalid' },
  INFERQ_CONFIG_UNKNOWN_KEY: { status: 500, title: 'Configuration has a key inferq does not know' },
  INFERQ_CONFIG_FILE_UNREADABLE: { status: 500, title: 'Configuration file cannot be read or parsed' },
  // request validation
  INFERQ_VALIDATION_FAILED: { status: 400, title: 'Request does not match the schema' },
  INFERQ_INPUT_TOO_LARGE: { status: 413, title: 'Input exceeds the size limit' },
  INFERQ_INPUT_EMPTY: { status: 400, title: 'Input is empty' },
  INFERQ_MEDIA_TYPE_UNSUPPORTED: { status: 415, title: 'Input media type is not accepted' },
  INFERQ_BODY_MALFORMED: { status: 400, title: 'Request body is not well-formed JSON or multipart' },
  INFERQ_BUFFERED_BYTES_LIMIT: { status: 413, title: 'JSON bodies held in memory are at their limit' },
  INFERQ_TOO_MANY_INPUTS: { status: 413, title: 'Too many inputs × targets in one request' },
  INFERQ_PARAMS_INVALID: { status: 400, title: 'Params do not match the model params schema' },
  INFERQ_CALLBACK_URL_REFUSED: { status: 400, title: 'Callback URL is not allowed' },
  INFERQ_IDEMPOTENCY_CONFLICT: { status: 409, title: 'Idempotency-Key was used with another body' },
  // HTTP protocol: requests refused by the router or Node's parser, before any route ran
  INFERQ_REQUEST_MALFORMED: { status: 400, title: 'Request is not valid HTTP' },
  INFERQ_URL_INVALID: { status: 400, title: 'URL has bad percent-encoding or a forbidden character' },
  INFERQ_PATH_FORBIDDEN: { status: 403, title: 'Path leaves the directory it serves' },
  INFERQ_REQUEST_TIMEOUT: { status: 408, title: 'Request did not arrive in time' },
  INFERQ_PRECONDITION_FAILED: { status: 412, title: 'A conditional request header does not hold' },
  INFERQ_URL_TOO_LONG: { status: 414, title: 'A path segment is over the length limit' },
  INFERQ_RANGE_NOT_SATISFIABLE: { status: 416, title: 'Range is outside the file' },
  INFERQ_HEADERS_TOO_LARGE: { status: 431, title: 'Request line and headers are over the size limit' },
  // auth and tenants
  INFERQ_AUTH_REQUIRED: { status: 401, title: 'No credentials were given' },
  INFERQ_AUTH_INVALID: { status: 401, title: 'Credentials are not valid' },
  INFERQ_AUTH_EXPIRED: { status: 401, title: 'Token has expired' },
  INFERQ_FORBIDDEN: { status: 403, title: 'Credentials lack the scope this needs' },
  INFERQ_RATE_LIMITED: { status: 429, title: 'Too many requests for this tenant' },
  INFERQ_QUEUE_LIMIT_REACHED: { status: 429, title: 'Tenant has too many queued tasks' },
  INFERQ_STORAGE_QUOTA_EXCEEDED: { status: 413, title: "Tenant's stored inputs would exceed its quota" },
  INFERQ_API_KEY_NOT_FOUND: { status: 404, title: 'No such API key' },
  INFERQ_TENANT_NOT_FOUND: { status: 404, title: 'No such tenant' },
  // tasks
  INFERQ_TASK_NOT_FOUND: { status: 404, title: 'No such task' },
  INFERQ_TASK_STATE_CONFLICT: { status: 409, title: 'Task is not in a state that allows this' },
  INFERQ_TASK_INVALID_TRANSITION: { status: 409, title: 'Task state transition is not allowed' },
  INFERQ_TASK_ID_CONFLICT: { status: 409, title: 'A task with this id already exists' },
  INFERQ_INVALID_CURSOR: { status: 400, title: 'Pagination cursor is malformed' },
  INFERQ_REQUEST_NOT_FOUND: { status: 404, title: 'No such request' },
  INFERQ_ROUTE_NOT_FOUND: { status: 404, title: 'No such route' },
  INFERQ_RESULT_NOT_READY: { status: 404, title: 'Task has no result yet' },
  INFERQ_TASK_FAILED: { status: 409, title: 'Task failed; it has no result' },
  INFERQ_PREDICT_TIMEOUT: { status: 504, title: 'Synchronous predict did not finish in time' },
  // jobs and queues
  INFERQ_JOB_PAYLOAD_INVALID: { status: 422, title: 'Job payload is invalid' },
  INFERQ_QUEUE_NAME_INVALID: { status: 400, title: 'Queue name is invalid' },
  INFERQ_CAPABILITY_UNSUPPORTED: { status: 501, title: 'The configured backend cannot do this' },
  // blobs
  INFERQ_BLOB_NOT_FOUND: { status: 404, title: 'No blob with this hash' },
  INFERQ_STORAGE_FULL: { status: 507, title: 'Storage is full' },
  INFERQ_BLOB_HASH_INVALID: { status: 400, title: 'Blob hash is not a SHA-256 hex digest' },
  // storage engines
  INFERQ_DATABASE_CORRUPT: { status: 500, title: 'Database file is corrupt or not a database' },
  INFERQ_STORE_UNAVAILABLE: { status: 503, title: 'Task store is unreachable' },
  INFERQ_BROKER_UNAVAILABLE: { status: 503, title: 'Broker is unreachable' },
  // models and runtimes
  INFERQ_MODEL_NOT_FOUND: { status: 404, title: 'No such model in the model repository' },
  INFERQ_MODEL_SPEC_INVALID: { status: 500, title: 'A model.yaml is invalid' },
  INFERQ_MODEL_ARTIFACT_MISSING: { status: 500, title: 'A model artifact file cannot be found' },
  INFERQ_MODEL_LOAD_FAILED: { status: 500, title: 'A model could not be loaded' },
  INFERQ_MODEL_NOT_LOADED: { status: 503, title: 'A model runtime was used before load() or after unload()' },
  INFERQ_INPUT_UNDECODABLE: { status: 422, title: 'Input bytes cannot be decoded' },
  INFERQ_REMOTE_MODEL_FAILED: { status: 502, title: 'A remote model service failed' },
  // Open Inference Protocol (v2) endpoints
  INFERQ_OIP_NO_SIGNATURE: { status: 404, title: 'The model declares no tensor signature for /v2' },
  INFERQ_OIP_TENSOR_INVALID: { status: 400, title: 'An infer input does not match the model signature' },
  INFERQ_FAST_PATH_BUSY: { status: 503, title: "The model's fast-path queue is full" },
  INFERQ_FAST_PATH_UNAVAILABLE: {
    status: 503,
    title: 'No worker in this process serves the model on the fast path',
  },
  INFERQ_FAST_PATH_WORKER_LOST: { status: 503, title: 'The fast-path worker running the call was lost' },
  INFERQ_FAST_PATH_TIMEOUT: { status: 504, title: 'The fast-path call did not answer in time' },
  // pipelines
  INFERQ_PIPELINE_SPEC_INVALID: { status: 500, title: 'A pipeline spec is invalid' },
  INFERQ_PIPELINE_STEP_FAILED: { status: 422, title: 'A step of a pipeline failed' },
  // work
  INFERQ_WORK_TIMEOUT: { status: 504, title: 'Work exceeded its time limit' },
  INFERQ_WORK_FAILED: { status: 500, title: 'Work failed' },
  INFERQ_WORKER_LOST: { status: 500, title: 'Every attempt ended with its worker lost' },
  INFERQ_RESULT_UNSERIALIZABLE: {
    status: 500,
    title: 'A model returned a result that cannot be stored as JSON',
  },
  INFERQ_CANCELLED: { status: 409, title: 'Work was cancelled' },
  INFERQ_INTERNAL: { status: 500, title: 'Internal error' },
} as const satisfies Record<string, { status: number; title: string }>;

/** A stable, documented error code. */
export type ErrorCode = keyof typeof errorCodes;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(errorCodes, value);
}
