/**
 * Opens the evidence store a service's topology entry asks for (docs/services.md): SQLite by default,
 * PostgreSQL when a connection URL is configured.
 */
import { join } from 'node:path';
import type { ResolvedService } from '../topology/resolve.js';
import { openPostgresStore } from './postgres.js';
import { openSqliteStore } from './sqlite.js';
import { StorageError, type EvidenceStore } from './types.js';

export * from './types.js';
export { openSqliteStore, type SqliteStoreOptions } from './sqlite.js';
export { openPostgresStore, type PostgresStoreOptions } from './postgres.js';

/** Where a service without a `storage` entry keeps its SQLite file, under the topology folder. */
export function defaultSqliteFile(baseDir: string, serviceId: string): string {
  return join(baseDir, 'var', `${serviceId}.db`);
}

/**
 * Opens the store of a service. A postgres `url` of the form `env:NAME` is read from
 * `env[NAME]`, so topology files never hold passwords.
 */
export async function openStoreForService(
  service: Pick<ResolvedService, 'id' | 'storage'>,
  baseDir: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<EvidenceStore> {
  const storage = service.storage;
  if (!storage) return openSqliteStore({ file: defaultSqliteFile(baseDir, service.id) });
  switch (storage.kind) {
    case 'sqlite':
      return openSqliteStore({ file: storage.file });
    case 'postgres': {
      let url = storage.url;
      if (url.startsWith('env:')) {
        const name = url.slice(4);
        const value = env[name];
        if (!value) throw new StorageError('storage-config', `services.${service.id}.storage.url: environment variable ${name} is not set`);
        url = value;
      }
      return openPostgresStore({ url });
    }
  }
}
