/**
 * `inferq/client`: the TypeScript SDK of the inferq HTTP API. Types come from the server's own
 * TypeBox schemas; nothing of the server is loaded at run time.
 */
export { type ClientErrorCode, InferqClientError, isInferqClientError } from './client-error.js';
export type { HttpOptions } from './http.js';
export { type ClientOptions, InferqClient, type ReadOptions, type WaitOptions } from './inferq-client.js';
export type { Input } from './inputs.js';
export { fileInput } from './node-files.js';
export { readEvents, type ServerSentEvent } from './sse.js';
export type * from './types.js';
export { type VerifyWebhookOptions, verifyWebhook } from './verify-webhook.js';
