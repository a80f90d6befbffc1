import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Tenant } from '../../store/auth-store.js';
import type { ApiContext } from '../api-context.js';
import { Query } from '../schemas/common.js';
import { WebhookSecret } from '../schemas/responses.js';
import { webhookSignatureHeader, webhookSignatureScheme } from '../webhooks/webhook-dispatcher.js';
import { principalOf } from './route-helpers.js';

const view = (tenant: Tenant) => ({
  tenant: tenant.id,
  secret: tenant.webhookSecret,
  header: webhookSignatureHeader,
  scheme: webhookSignatureScheme,
});

/**
 * `/v1/webhooks/secret`: the caller's tenant's webhook signing secret, so that its receivers can
 * check that a callback came from this server (docs/webhooks.md), and a way to replace it.
 *
 * Reading the secret is any key of the tenant's (its receivers need it); replacing it is admin
 * only: a rotation breaks every receiver still checking the old secret, so a leaked user key must
 * not be able to do it (issue 17). An admin rotates its own tenant's secret, or `?tenant=`'s.
 */
export function webhookRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/webhooks/secret',
      {
        schema: {
          summary: "The secret your tenant's webhooks are signed with, and how to check a signature",
          tags: ['webhooks'],
          response: { 200: WebhookSecret },
        },
      },
      async (request) => view(await ctx.auth.ensureTenant(principalOf(request).tenant)),
    );
    app.post(
      '/webhooks/secret/rotate',
      {
        config: { auth: 'admin' },
        schema: {
          summary:
            "Replace a tenant's webhook secret (admin only); deliveries from now on are signed with the new one",
          tags: ['webhooks'],
          querystring: Query({
            tenant: Type.Optional(
              Type.String({
                pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
                description: "the tenant whose secret to replace; the admin key's own by default",
              }),
            ),
          }),
          response: { 200: WebhookSecret },
        },
      },
      async (request) => {
        const tenant = request.query.tenant ?? principalOf(request).tenant;
        await ctx.auth.ensureTenant(tenant);
        return view((await ctx.auth.rotateWebhookSecret(tenant))!);
      },
    );
  };
}
