import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { InferqError } from '../../errors/index.js';
import type { ApiContext } from '../api-context.js';
import type { TokenClaims } from '../auth/principal.js';

/** `POST /v1/auth/token`: an API key in, a short-lived token out. */
export function authRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/auth/token',
      {
        config: { auth: 'public' },
        schema: {
          summary: 'Exchange an API key for a short-lived token (both work as Bearer credentials)',
          tags: ['auth'],
          security: [],
          body: Type.Object(
            { apiKey: Type.String({ minLength: 1, maxLength: 200 }) },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => {
        const key = await ctx.auth.verifyApiKey(request.body.apiKey);
        if (key === undefined)
          throw new InferqError('INFERQ_AUTH_INVALID', 'the API key is unknown or revoked');
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
