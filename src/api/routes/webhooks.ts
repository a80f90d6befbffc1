import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Tenant } from '../../store/auth-store.js';
import type { ApiContext } from '../api-context.js';
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
        schema: {
          summary: "Replace your tenant's webhook secret; deliveries from now on are signed with the new one",
          tags: ['webhooks'],
          response: { 200: WebhookSecret },
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        await ctx.auth.ensureTenant(tenant);
        return view((await ctx.auth.rotateWebhookSecret(tenant))!);
      },
    );
  };
}
