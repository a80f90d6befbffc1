import { type TObject, type TProperties, Type } from '@sinclair/typebox';

/** Every error body: `{ error: { code, message, details? } }` (see docs/errors.md). */
export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'stable code, documented in docs/errors.md' }),
      message: Type.String(),
      details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
  },
  { $id: 'ErrorBody' },
);

/**
 * Error bodies of the Open Inference Protocol routes (`/v2`): the protocol's `{ error: string }`,
 * which Triton's and KServe's clients read, with inferq's stable code and details beside it.
 */
export const OipErrorBody = Type.Object(
  {
    error: Type.String({ description: 'what went wrong and what to send instead' }),
    code: Type.String({ description: 'stable code, documented in docs/errors.md' }),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { $id: 'OipErrorBody' },
);

/** Whether `url` is one of the Open Inference Protocol routes, which answer errors as {@link OipErrorBody}. */
export function isOipPath(url: string): boolean {
  return url === '/v2' || url.startsWith('/v2/') || url.startsWith('/v2?');
}

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });

/** Responses are documented but not filtered: these objects pass extra members through. */
export const Open = { additionalProperties: true } as const;

/**
 * A query string schema: a parameter the route does not know is a 400 that names it, not ignored
 * (`?purg=true` must not cancel without purging, `?wiat=5s` must not answer at once unnoticed).
 */
export function Query<T extends TProperties>(properties: T): TObject<T> {
  return Type.Object(properties, { additionalProperties: false });
}
