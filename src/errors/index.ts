export { type ErrorCode, errorCodes, isErrorCode } from './codes.js';
export { InferqError, type InferqErrorOptions, isInferqError } from './inferq-error.js';
