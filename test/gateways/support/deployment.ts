/**
 * A deployment on disk for gateway tests: a topology derived from examples/topology.yaml, a real
 * test PKI with a leaf for every scanner, hop and service, and the HMAC key files it names — in
 * one temp folder that the caller removes (the PKI is shared by the deployments of one process).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { loadTopology } from '../../../src/topology/load.js';
import type { ResolvedHop, ResolvedTopology } from '../../../src/topology/resolve.js';
import type { TopologyInput } from '../../../src/topology/schema.js';
import { tempDir } from '../../support/tmp.js';
import { createTestPki, writeHmacKey, type Role, type TestPki } from './pki.js';

const EXAMPLE = join(dirname(fileURLToPath(import.meta.url)), '../../../examples/topology.yaml');

/** The example topology as a plain object, for a test to change before it is written. */
export function exampleDocument(): TopologyInput {
  return parse(readFileSync(EXAMPLE, 'utf8')) as TopologyInput;
}

/**
 * One PKI per test process and trust domain: making CAs and leaves with openssl is the slow part
 * of a deployment, and leaves are the same whatever the topology around them. Each deployment
 * links `pki/` to it; the folder goes when the process exits.
 */
const sharedPkis = new Map<string, TestPki>();
function sharedPki(trustDomain: string): TestPki {
  let pki = sharedPkis.get(trustDomain);
  if (!pki) {
    const tmp = tempDir('stella-gw-pki-');
    process.once('exit', () => rmSync(tmp.path, { recursive: true, force: true }));
    pki = createTestPki(tmp.path, trustDomain);
    sharedPkis.set(trustDomain, pki);
  }
  return pki;
}

/** Issues a leaf unless the shared PKI has it already, with the same DNS names (the `serverName`). */
function ensureLeaf(pki: TestPki, role: Role, name: string, serverName?: string): void {
  const dir = join(pki.dir, 'issued', role, name);
  const dnsNames = serverName ? [serverName] : [];
  const marker = join(dir, 'dns-names');
  const wanted = JSON.stringify(dnsNames);
  if (existsSync(join(dir, 'chain.pem')) && existsSync(marker) && readFileSync(marker, 'utf8') === wanted) return;
  pki.issue(role, name, undefined, dnsNames);
  writeFileSync(marker, wanted);
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
    const pki = sharedPki(document.trustDomain);
    symlinkSync(pki.dir, join(tmp.path, 'pki'));
    const macKeys = new Map<string, Buffer>();
    const keyFile = (relative: string): string => {
      const path = join(tmp.path, relative);
      mkdirSync(dirname(path), { recursive: true });
      return path;
    };
    for (const hop of document.hops) {
      if (hop.stamp !== false) for (const key of hop.stamp.keys ?? []) macKeys.set(key.kid, writeHmacKey(keyFile(key.file)));
    }
    for (const scanner of document.scanners) {
      for (const key of scanner.signing.keys) writeHmacKey(keyFile(key.file));
    }
    for (const scanner of document.scanners) ensureLeaf(pki, 'scanner', scanner.id);
    for (const hop of document.hops) ensureLeaf(pki, 'gateway', hop.id, hop.serverName);
    for (const service of document.services) ensureLeaf(pki, 'service', service.id, service.serverName);
    const topology = await loadTopology(file);
    return { dir: tmp.path, topology, pki, macKeys, remove: tmp.remove };
  } catch (error) {
    tmp.remove();
    throw error;
  }
}

/**
 * Deployments made by one test file, each from the example document after `change`, removed
 * after every test; and the lookup of a hop by id (which fails loudly when the id is wrong).
 */
export function deploymentsPerTest(afterEach: (fn: () => void) => void): {
  deploy(change?: (doc: TopologyInput) => void): Promise<Deployment>;
  hop(deployment: Deployment, id: string): ResolvedHop;
} {
  const made: Deployment[] = [];
  afterEach(() => {
    for (const d of made.splice(0)) d.remove();
  });
  return {
    async deploy(change = () => {}) {
      const doc = exampleDocument();
      change(doc);
      const deployment = await createDeployment(doc);
      made.push(deployment);
      return deployment;
    },
    hop(deployment, id) {
      const found = deployment.topology.hops.find((h) => h.id === id);
      if (!found) throw new Error(`no hop ${id}`);
      return found;
    },
  };
}
