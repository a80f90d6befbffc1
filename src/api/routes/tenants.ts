import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { InferqError } from '../../errors/index.js';
import type { Tenant } from '../../store/auth-store.js';
import type { ApiContext } from '../api-context.js';
import { SetTenantBody, TenantList, TenantView } from '../schemas/tenant.js';

const admin = { auth: 'admin' as const };
const TenantParams = Type.Object({ tenant: Type.String({ minLength: 1, maxLength: 64 }) });

const view = (tenant: Tenant) => ({
  id: tenant.id,
  createdAt: tenant.createdAt,
  weight: tenant.weight,
  rateLimitPerMinute: tenant.rateLimitPerMinute,
  maxQueuedTasks: tenant.maxQueuedTasks,
  maxStoredBytes: tenant.maxStoredBytes,
});

function notFound(id: string): InferqError {
  return new InferqError(
    'INFERQ_TENANT_NOT_FOUND',
    `no tenant ${JSON.stringify(id)}: a tenant exists once it has an API key (inferq keys create --tenant ${id})`,
    { details: { tenant: id } },
  );
}

/**
 * `/v1/tenants`: each tenant's weight (its share of a queue against other tenants) and limits,
 * admin only. A change applies to the tenant's next request (the API caches a tenant for
 * `tenantCacheTtlMs`) and, for the weight, from the tenant's next submission on.
 */
export function tenantRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/tenants',
      {
        config: admin,
        schema: {
          summary: 'List tenants with their weights and limits',
          tags: ['tenants'],
          response: { 200: TenantList },
        },
      },
      async () => ({ items: (await ctx.auth.listTenants()).map(view) }),
    );

    app.get(
      '/tenants/:tenant',
      {
        config: admin,
        schema: {
          summary: "A tenant's weight and limits",
          tags: ['tenants'],
          params: TenantParams,
          response: { 200: TenantView },
        },
      },
      async (request) => {
        const tenant = await ctx.auth.getTenant(request.params.tenant);
        if (tenant === undefined) throw notFound(request.params.tenant);
        return view(tenant);
      },
    );

    app.patch(
      '/tenants/:tenant',
      {
        config: admin,
        schema: {
          summary: "Set a tenant's weight and limits (null: back to the default)",
          tags: ['tenants'],
          params: TenantParams,
          body: SetTenantBody,
          response: { 200: TenantView },
        },
      },
      async (request) => {
        const tenant = await ctx.auth.setTenantLimits(request.params.tenant, request.body);
        if (tenant === undefined) throw notFound(request.params.tenant);
        return view(tenant);
      },
    );
  };
}
