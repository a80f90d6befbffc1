export { type ErrorCode, errorCodes, isErrorCode } from './codes.js';
export {
  type ErrorJson,
  errorJson,
  InferqError,
  type InferqErrorOptions,
  isInferqError,
} from './inferq-error.js';
