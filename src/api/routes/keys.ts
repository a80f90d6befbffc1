import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { InferqError } from '../../errors/index.js';
import type { ApiContext } from '../api-context.js';
import { Query } from '../schemas/common.js';

const admin = { auth: 'admin' as const };

/** `/v1/keys`: API key management, admin only (the CLI does the same on the local store). */
export function keyRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/keys',
      {
        config: admin,
        schema: {
          summary: 'Create an API key (the key is returned once)',
          tags: ['keys'],
          body: Type.Object(
            {
              tenant: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' }),
              admin: Type.Optional(Type.Boolean()),
              name: Type.Optional(Type.String({ maxLength: 100 })),
            },
            // What the Swagger UI fills in: a tenant's user key (never an admin key by default).
            { additionalProperties: false, examples: [{ tenant: 'acme', name: 'acme batch jobs' }] },
          ),
        },
      },
      async (request, reply) => {
        const created = await ctx.auth.createApiKey({ ...request.body, at: ctx.clock() });
        return reply.status(201).send({ key: created.key, ...created.record });
      },
    );

    app.get(
      '/keys',
      {
        config: admin,
        schema: {
          summary: 'List API keys (never the keys themselves)',
          tags: ['keys'],
          querystring: Query({ tenant: Type.Optional(Type.String()) }),
        },
      },
      async (request) => ({
        items: await ctx.auth.listApiKeys(
          request.query.tenant === undefined ? {} : { tenant: request.query.tenant },
        ),
      }),
    );

    app.delete(
      '/keys/:keyId',
      {
        config: admin,
        schema: {
          summary: 'Revoke an API key (its tokens stop working too)',
          tags: ['keys'],
          params: Type.Object({ keyId: Type.String() }),
        },
      },
      async (request) => {
        if (!(await ctx.auth.revokeApiKey(request.params.keyId, ctx.clock()))) {
          throw new InferqError('INFERQ_API_KEY_NOT_FOUND', `no live API key ${request.params.keyId}`, {
            details: { id: request.params.keyId },
          });
        }
        ctx.keyCache.forget(request.params.keyId);
        return { id: request.params.keyId, revoked: true };
      },
    );
  };
}
