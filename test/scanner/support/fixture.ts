/** One temp deployment + stand-in edge + loaded topology per test file. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../support/programs.js';
import { tempDir } from '../../support/tmp.js';
import { loadTopology } from '../../../src/topology/load.js';
import type { ResolvedTopology } from '../../../src/topology/resolve.js';
import { deliveryOptionsFor } from '../../../src/scanner/config.js';
import type { ScannerSetup, ScannerSetupOptions } from '../../../src/scanner/config.js';
import { createTestDeployment } from './deployment.js';
import type { TestDeployment } from './deployment.js';
import { startFakeEdge } from './edge.js';
import type { FakeEdge } from './edge.js';

/** What a scanner test works with. */
export interface ScannerFixture {
  dir: string;
  deployment: TestDeployment;
  edge: FakeEdge;
  topology: ResolvedTopology;
  /** Delivery options for scanner-01 (close them in the test). */
  setup(options?: ScannerSetupOptions): Promise<ScannerSetup>;
  /** Writes an artifact file and returns its path. */
  artifact(name: string, contents: string): string;
  cleanup(): Promise<void>;
}

/** Builds the fixture: PKI, keys, topology, stand-in edge listening on a free port. */
export async function scannerFixture(): Promise<ScannerFixture> {
  const tmp = tempDir('stella-scanner-');
  const port = await freePort();
  const deployment = await createTestDeployment(tmp.path, port);
  const edge = await startFakeEdge(deployment, port);
  const topology = await loadTopology(deployment.topologyFile);
  return {
    dir: tmp.path,
    deployment,
    edge,
    topology,
    setup: (options) => deliveryOptionsFor(topology, 'scanner-01', options),
    artifact(name, contents) {
      const file = join(tmp.path, name);
      writeFileSync(file, contents);
      return file;
    },
    async cleanup() {
      await edge.stop();
      tmp.remove();
    },
  };
}

/** A sleep that does not wait (backoff delays are still computed and recorded). */
export const noSleep = async (): Promise<void> => undefined;
