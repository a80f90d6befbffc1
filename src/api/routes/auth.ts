import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { InferqError } from '../../errors/index.js';
import type { ApiContext } from '../api-context.js';
import { bearerCredential } from '../auth/authenticate.js';
import type { TokenClaims } from '../auth/principal.js';

/**
 * `POST /v1/auth/token`: an API key in, a short-lived token out. The key comes as JSON
 * (`{"apiKey": …}`) or, with no body, as `Authorization: Bearer <API key>`, the way every other
 * route takes it. Only an API key is exchanged: a token cannot mint another, so revoking the key
 * bounds every token's life by the TTL.
 */
export function authRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/auth/token',
      {
        config: { auth: 'public' },
        // No body (curl -X POST -H 'Authorization: Bearer iq_…'): checked as an empty object.
        preValidation: async (request) => {
          request.body ??= {};
        },
        schema: {
          summary: 'Exchange an API key for a short-lived token (both work as Bearer credentials)',
          description:
            'Send the API key as JSON `{"apiKey": "iq_…"}`, or send no body and the key as `Authorization: Bearer iq_…`.',
          tags: ['auth'],
          security: [],
          body: Type.Object(
            { apiKey: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) },
            { additionalProperties: false, examples: [{ apiKey: 'iq_0123456789abcdef_…' }] },
          ),
        },
      },
      async (request) => {
        const apiKey = request.body.apiKey ?? bearerCredential(request.headers.authorization);
        if (apiKey === undefined) {
          throw new InferqError(
            'INFERQ_AUTH_REQUIRED',
            'send the API key to exchange, as JSON {"apiKey": "iq_…"} or as Authorization: Bearer iq_…',
          );
        }
        const key = await ctx.auth.verifyApiKey(apiKey);
        if (key === undefined)
          throw new InferqError(
            'INFERQ_AUTH_INVALID',
            'the API key is unknown or revoked (only an API key is exchanged for a token, not a token)',
          );
        const claims: TokenClaims = { tenant: key.tenant, kid: key.id, admin: key.admin };
        const expiresInSeconds = Math.max(1, Math.floor(ctx.config.api.tokenTtlMs / 1_000));
        const now = Math.floor(ctx.clock() / 1_000);
        const token = app.jwt.sign({ ...claims, iat: now, exp: now + expiresInSeconds });
        return {
          token,
          tokenType: 'Bearer',
          expiresIn: expiresInSeconds,
          tenant: key.tenant,
          admin: key.admin,
        };
      },
    );
  };
}
