import type { FastifySchema, RouteOptions } from 'fastify';

import { isOipPath } from './schemas/common.js';

const inferqError = (description: string) => ({ description, $ref: 'ErrorBody#' });
const oipError = (description: string) => ({ description, $ref: 'OipErrorBody#' });

/**
 * `@fastify/swagger`'s `transform`: adds to each route's documentation (only there: the routes'
 * own schemas, which also serialise replies, are left as they are) the error answers that every
 * route of its auth level can give, in the one error shape, and marks the public routes as
 * needing no credentials (the document's default is a bearer key).
 */
export function documentErrors({
  schema,
  url,
  route,
}: {
  schema: FastifySchema;
  url: string;
  route: RouteOptions;
}): {
  schema: FastifySchema;
  url: string;
} {
  if ((schema as { hide?: boolean } | undefined)?.hide) return { schema, url };
  const own = (schema?.response ?? {}) as Record<string, unknown>;
  // A route with no response schema is documented by the plugin as a bare 200; keep that.
  const success = Object.keys(own).some((status) => status.startsWith('2'))
    ? {}
    : { 200: { description: 'OK' } };
  const auth = route.config?.auth ?? 'tenant';
  const error = isOipPath(url) ? oipError : inferqError;
  const responses: Record<string, unknown> = {
    '4XX': error(
      'Refused: `error.code` says why and stays stable; docs/errors.md lists every code with its status.',
    ),
    '5XX': error(
      'INFERQ_INTERNAL, or INFERQ_STORE_UNAVAILABLE / INFERQ_BROKER_UNAVAILABLE while a backend is down.',
    ),
  };
  if (auth !== 'public') {
    responses['401'] = error(
      'INFERQ_AUTH_REQUIRED, INFERQ_AUTH_INVALID or INFERQ_AUTH_EXPIRED: send a valid key or token.',
    );
    responses['429'] = error(
      "INFERQ_RATE_LIMITED: over the tenant's rate; retry after `Retry-After` seconds.",
    );
  }
  if (auth === 'admin') responses['403'] = error('INFERQ_FORBIDDEN: this route needs an admin API key.');
  return {
    url,
    schema: {
      ...schema,
      ...(auth === 'public' ? { security: [] } : {}),
      response: { ...success, ...responses, ...own },
    } as FastifySchema,
  };
}
