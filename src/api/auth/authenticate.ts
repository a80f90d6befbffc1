import type {} from '@fastify/jwt';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { apiKeyId } from '../../core/api-key.js';
import { InferqError } from '../../errors/index.js';
import type { ApiKeyCache } from './key-cache.js';
import type { Principal, TokenClaims } from './principal.js';

/** The credential of an `Authorization: Bearer …` header; undefined when it is not that form. */
export function bearerCredential(header: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
}

/**
 * Resolves `Authorization: Bearer <API key | token>` to a principal. Both kinds end in a key
 * record lookup, so revoking a key also ends the tokens issued for it (at once through this
 * process's API, within the key cache's few seconds elsewhere: see ApiKeyCache).
 */
export async function authenticate(
  app: FastifyInstance,
  keys: ApiKeyCache,
  request: FastifyRequest,
): Promise<Principal> {
  const header = request.headers.authorization;
  if (header === undefined || header === '') {
    throw new InferqError('INFERQ_AUTH_REQUIRED', 'send Authorization: Bearer <API key or token>');
  }
  const credential = bearerCredential(header);
  if (credential === undefined) {
    throw new InferqError(
      'INFERQ_AUTH_INVALID',
      'the Authorization header must be "Bearer <API key or token>"',
    );
  }
  if (apiKeyId(credential) !== undefined) {
    const key = await keys.verify(credential);
    if (key === undefined) throw new InferqError('INFERQ_AUTH_INVALID', 'the API key is unknown or revoked');
    return { tenant: key.tenant, keyId: key.id, admin: key.admin };
  }
  if (credential.startsWith('iq_')) {
    // Tokens are JWTs (eyJ…): this is an API key cut short or altered, often by a copy and paste.
    throw new InferqError(
      'INFERQ_AUTH_INVALID',
      'the API key is malformed: a key is iq_<16 hex characters>_<43 characters>, 63 in all; send it whole',
    );
  }
  let claims: TokenClaims;
  try {
    claims = app.jwt.verify<TokenClaims>(credential);
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    if (code === 'FAST_JWT_EXPIRED') {
      throw new InferqError(
        'INFERQ_AUTH_EXPIRED',
        'the token has expired; get a new one at POST /v1/auth/token',
        {
          cause,
        },
      );
    }
    if (code === 'FAST_JWT_MISSING_REQUIRED_CLAIM') {
      throw new InferqError(
        'INFERQ_AUTH_INVALID',
        'the token has no expiry (exp); get one from POST /v1/auth/token',
        { cause },
      );
    }
    throw new InferqError('INFERQ_AUTH_INVALID', 'the token is malformed or not signed by this server', {
      cause,
    });
  }
  const key = typeof claims.kid === 'string' ? await keys.get(claims.kid) : undefined;
  if (key === undefined || key.revokedAt !== null || key.tenant !== claims.tenant) {
    throw new InferqError('INFERQ_AUTH_INVALID', 'the API key this token was issued for is revoked');
  }
  return { tenant: key.tenant, keyId: key.id, admin: key.admin };
}
