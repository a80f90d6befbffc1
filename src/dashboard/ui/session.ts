import { InferqClient } from '../../client/inferq-client.js';

/** Who is signed in: the token from `POST /v1/auth/token`, kept for this browser tab only. */
export interface Session {
  token: string;
  tenant: string;
  admin: boolean;
  expiresAt: number;
}

const storageKey = 'inferq.session';

export function loadSession(): Session | undefined {
  try {
    const session = JSON.parse(sessionStorage.getItem(storageKey) ?? 'null') as Session | null;
    return session !== null && session.expiresAt > Date.now() ? session : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Exchanges the API key for a token: the key itself is never stored, so closing the tab (or
 * the token's expiry) ends the session.
 */
export async function signIn(apiKey: string): Promise<Session> {
  const token = await new InferqClient({ url: location.origin, maxAttempts: 1 }).token(apiKey.trim());
  const session = {
    token: token.token,
    tenant: token.tenant,
    admin: token.admin,
    expiresAt: Date.now() + token.expiresIn * 1_000,
  };
  sessionStorage.setItem(storageKey, JSON.stringify(session));
  return session;
}

export function signOut(): void {
  sessionStorage.removeItem(storageKey);
}

export function clientFor(session: Session): InferqClient {
  return new InferqClient({ url: location.origin, apiKey: session.token });
}
