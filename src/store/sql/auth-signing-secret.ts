/*
 * The deployment's token signing secret: one row of table auth_settings, which every API host
 * of a deployment reads (AuthStore.signingSecret).
 */

/** The deployment's token signing secret (table auth_settings), or no row. No parameters. */
export const selectSigningSecretSql = `SELECT value FROM auth_settings WHERE name = 'signing-secret'`;

/**
 * Stores the signing secret unless one is stored: of hosts starting together, the first insert
 * wins for all (each reads back what is stored). Parameters: `@value`.
 */
export const insertSigningSecretSql = `INSERT INTO auth_settings (name, value) VALUES ('signing-secret', @value)
  ON CONFLICT (name) DO NOTHING`;
