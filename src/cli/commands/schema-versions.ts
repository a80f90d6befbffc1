import path from 'node:path';
import Database from 'better-sqlite3';
import type { Config } from '../../config/schema.js';
import { redactUrl } from '../../core/redact-url.js';
import { openPgPool } from '../../postgres/open-pg-pool.js';

/** One database (a PostgreSQL schema or a SQLite file) and the component versions it holds. */
export interface SchemaVersions {
  location: string;
  versions: Record<string, number>;
}

const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//.test(url);

/** The databases a deployment's config names: the task store, queue, blobs and auth store. */
function locations(config: Config): Array<{ kind: 'postgres' | 'sqlite'; target: string }> {
  const found = new Map<string, { kind: 'postgres' | 'sqlite'; target: string }>();
  const sqliteFile = (url: string, scheme: string) =>
    path.resolve(url.slice(scheme.length + 1).replace(/^\/\/(?=\/)/, ''));
  for (const url of [config.store.url, config.broker.url, config.blobs.url]) {
    if (isPostgresUrl(url)) found.set(url, { kind: 'postgres', target: url });
    else if (url.startsWith('sqlite:')) {
      const file = sqliteFile(url, 'sqlite');
      found.set(file, { kind: 'sqlite', target: file });
    }
  }
  if (!isPostgresUrl(config.store.url)) {
    const file = path.resolve(config.dataDir, 'auth.db');
    found.set(file, { kind: 'sqlite', target: file });
  }
  return [...found.values()];
}

async function postgresVersions(url: string): Promise<Record<string, number>> {
  const handle = openPgPool(url, { purpose: 'migrate', max: 1 });
  try {
    const { rows } = await handle.pool.query<{ component: string; version: number }>(
      `SELECT component, version FROM ${handle.schema}.inferq_schema ORDER BY component`,
    );
    return Object.fromEntries(rows.map((r) => [r.component, r.version]));
  } finally {
    await handle.pool.end();
  }
}

function sqliteVersions(file: string): Record<string, number> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare<[], { component: string; version: number }>(
        'SELECT component, version FROM inferq_schema ORDER BY component',
      )
      .all();
    return Object.fromEntries(rows.map((r) => [r.component, r.version]));
  } finally {
    db.close();
  }
}

/** Reads `inferq_schema` in every database the config names (after they were opened). */
export async function readSchemaVersions(config: Config): Promise<SchemaVersions[]> {
  const out: SchemaVersions[] = [];
  for (const { kind, target } of locations(config)) {
    out.push({
      location: kind === 'postgres' ? redactUrl(target) : `sqlite:${target}`,
      versions: kind === 'postgres' ? await postgresVersions(target) : sqliteVersions(target),
    });
  }
  return out;
}
