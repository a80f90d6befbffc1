/** Who is calling: resolved from an API key or a token on every protected request. */
export interface Principal {
  tenant: string;
  keyId: string;
  admin: boolean;
}

/** What a route requires: nothing, any tenant's credentials, or admin credentials. */
export type AuthLevel = 'public' | 'tenant' | 'admin';

/** The claims of a token from `POST /v1/auth/token`. */
export interface TokenClaims {
  tenant: string;
  kid: string;
  admin: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Default `tenant`: a route is public only when it says so. */
    auth?: AuthLevel;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}
