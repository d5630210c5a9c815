/**
 * A deployment on disk for gateway tests: a topology derived from examples/topology.yaml, a real
 * test PKI with a leaf for every scanner, hop and service, and the HMAC key files it names — all in
 * one temp folder that the caller removes.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { loadTopology } from '../../../src/topology/load.js';
import type { ResolvedTopology } from '../../../src/topology/resolve.js';
import type { TopologyInput } from '../../../src/topology/schema.js';
import { tempDir } from '../../support/tmp.js';
import { createTestPki, writeHmacKey, type TestPki } from './pki.js';

const EXAMPLE = join(dirname(fileURLToPath(import.meta.url)), '../../../examples/topology.yaml');

/** The example topology as a plain object, for a test to change before it is written. */
export function exampleDocument(): TopologyInput {
  return parse(readFileSync(EXAMPLE, 'utf8')) as TopologyInput;
}

/** A written deployment. */
export interface Deployment {
  readonly dir: string;
  readonly topology: ResolvedTopology;
  readonly pki: TestPki;
  /** The secret of every hop MAC key, by kid. */
  readonly macKeys: ReadonlyMap<string, Buffer>;
  remove(): void;
}

/**
 * Writes `document` (default: the example) as `<tmp>/topology.yaml`, creates the PKI and key files
 * it references, and loads it with the product's own loader (files checked).
 */
export async function createDeployment(document: TopologyInput = exampleDocument()): Promise<Deployment> {
  const tmp = tempDir('stella-gw-');
  try {
    const file = join(tmp.path, 'topology.yaml');
    writeFileSync(file, stringify(document));
    const pki = createTestPki(join(tmp.path, 'pki'), document.trustDomain);
    const macKeys = new Map<string, Buffer>();
    const keyFile = (relative: string): string => {
      const path = join(tmp.path, relative);
      mkdirSync(dirname(path), { recursive: true });
      return path;
    };
    for (const hop of document.hops) {
      if (hop.stamp !== false) for (const key of hop.stamp.keys) macKeys.set(key.kid, writeHmacKey(keyFile(key.file)));
    }
    for (const scanner of document.scanners) {
      for (const key of scanner.signing.keys) writeHmacKey(keyFile(key.file));
    }
    for (const scanner of document.scanners) pki.issue('scanner', scanner.id);
    for (const hop of document.hops) pki.issue('gateway', hop.id);
    for (const service of document.services) pki.issue('service', service.id);
    const topology = await loadTopology(file);
    return { dir: tmp.path, topology, pki, macKeys, remove: tmp.remove };
  } catch (error) {
    tmp.remove();
    throw error;
  }
}
