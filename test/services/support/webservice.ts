/** Builds a WebService app on a real SQLite file in a temp folder. */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildWebServiceApp } from '../../../src/services/webservice/app.js';
import { openSqliteStore } from '../../../src/storage/sqlite.js';
import type { EvidenceStore } from '../../../src/storage/types.js';
import type { ResolvedTopology } from '../../../src/topology/resolve.js';
import { tempDir } from '../../support/tmp.js';
import { provenanceOptions, serviceTopology, testKeys, type TestKeys } from './fixture.js';
import { NOW_MS } from './locker.js';

export interface WebServiceWorld {
  app: FastifyInstance;
  store: EvidenceStore;
  keys: TestKeys;
  topology: ResolvedTopology;
  dispose: () => Promise<void>;
}

/** A WebService with its own store file. */
export async function webServiceWorld(): Promise<WebServiceWorld> {
  const dir = tempDir('stella-webservice-');
  const topology = serviceTopology('scanner-webservice');
  const keys = testKeys();
  const store = openSqliteStore({ file: join(dir.path, 'scans.db') });
  const app = await buildWebServiceApp({ topology, serviceId: 'scanner-webservice', store, provenance: provenanceOptions(keys, () => NOW_MS), now: () => NOW_MS });
  await app.ready();
  return {
    app,
    store,
    keys,
    topology,
    dispose: async () => {
      await app.close();
      dir.remove();
    },
  };
}
