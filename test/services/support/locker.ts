/** Builds a locker app on a real SQLite file in a temp folder, with the fixture's keys. */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { createSigner } from '../../../src/dsse/index.js';
import { buildLockerApp } from '../../../src/services/locker/app.js';
import { openSqliteStore } from '../../../src/storage/sqlite.js';
import type { EvidenceStore } from '../../../src/storage/types.js';
import type { ReadinessCheck } from '../../../src/services/common/health.js';
import { tempDir } from '../../support/tmp.js';
import { provenanceOptions, serviceTopology, testKeys, type TestKeys } from './fixture.js';
import type { ResolvedTopology } from '../../../src/topology/resolve.js';

/** 2026-11-28T12:00:00Z: the fixed clock of the inject tests. */
export const NOW_MS = Date.UTC(2026, 10, 28, 12, 0, 0);

export interface LockerWorld {
  app: FastifyInstance;
  store: EvidenceStore;
  keys: TestKeys;
  topology: ResolvedTopology;
  registry: Registry;
  /** The SQLite file of the world's own store (unused when a store was passed in). */
  file: string;
  dispose: () => Promise<void>;
}

/** A locker with its own store file; `dispose` closes the app (and store) and removes the folder. */
export async function lockerWorld(
  options: { maxBodyBytes?: number; maxArtifactBytes?: number; store?: EvidenceStore; readiness?: ReadinessCheck[]; access?: { readers?: string[]; ops?: string[] } } = {},
): Promise<LockerWorld> {
  const dir = tempDir('stella-locker-');
  const topology = serviceTopology('evidence-locker', {
    ...(options.maxBodyBytes ? { maxBodyBytes: options.maxBodyBytes } : {}),
    ...(options.maxArtifactBytes ? { maxArtifactBytes: options.maxArtifactBytes } : {}),
    ...(options.access ? { access: { readers: options.access.readers ?? [], ...(options.access.ops ? { ops: options.access.ops } : {}) } } : {}),
  });
  const keys = testKeys();
  const store = options.store ?? openSqliteStore({ file: join(dir.path, 'evidence.db') });
  const registry = new Registry();
  const app = await buildLockerApp({
    topology,
    serviceId: 'evidence-locker',
    store,
    receiptSigner: createSigner(keys.receiptPrivate, 'locker-receipt'),
    provenance: provenanceOptions(keys, () => NOW_MS),
    now: () => NOW_MS,
    registry,
    ...(options.readiness ? { readiness: options.readiness } : {}),
  });
  await app.ready();
  return {
    app,
    store,
    file: join(dir.path, 'evidence.db'),
    keys,
    topology,
    registry,
    dispose: async () => {
      await app.close();
      dir.remove();
    },
  };
}
