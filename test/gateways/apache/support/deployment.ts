/**
 * A deployment on disk for the Apache/Caddy renderer tests: the topology written as YAML, a PKI made
 * by the product's own `initPki`/`issueCertificate` (leaf DNS SAN = the hop's `serverName`, so a
 * test can give a hop `serverName: localhost` and reach it by name), and the HMAC key files — all
 * in one temp folder the caller removes.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { initPki, issueCertificate } from '../../../../src/pki/index.js';
import { loadTopology } from '../../../../src/topology/load.js';
import type { ResolvedTopology } from '../../../../src/topology/resolve.js';
import type { TopologyInput } from '../../../../src/topology/schema.js';
import { tempDir } from '../../../support/tmp.js';

/** A written deployment and the folder to render it into. */
export interface Deployment {
  readonly dir: string;
  /** `<dir>/out`: the render folder. */
  readonly outDir: string;
  readonly topology: ResolvedTopology;
  remove(): void;
}

function writeKey(dir: string, file: string): void {
  const path = resolve(dir, file);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
}

function writeReceiptKey(dir: string, file: string): void {
  const path = resolve(dir, file);
  mkdirSync(dirname(path), { recursive: true });
  const { privateKey } = generateKeyPairSync('ed25519');
  writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
}

/** Writes `document` with its PKI and keys, and loads it with the product's loader (files checked). */
export async function createDeployment(document: TopologyInput): Promise<Deployment> {
  const tmp = tempDir('stella-apache-caddy-');
  try {
    const file = join(tmp.path, 'topology.yaml');
    writeFileSync(file, stringify(document));
    const pkiDir = resolve(tmp.path, document.pki.dir);
    await initPki({ dir: pkiDir, trustDomain: document.trustDomain });
    for (const scanner of document.scanners) {
      await issueCertificate({ dir: pkiDir, role: 'scanner', name: scanner.id });
      for (const key of scanner.signing.keys) writeKey(tmp.path, key.file);
    }
    for (const hop of document.hops) {
      await issueCertificate({ dir: pkiDir, role: 'gateway', name: hop.id, dns: [hop.serverName ?? hop.id], ip: ['127.0.0.1'] });
      if (hop.stamp !== false) for (const key of hop.stamp.keys ?? []) writeKey(tmp.path, key.file);
    }
    for (const service of document.services) {
      if (service.receiptKey) writeReceiptKey(tmp.path, service.receiptKey);
      await issueCertificate({ dir: pkiDir, role: 'service', name: service.id, dns: [service.serverName ?? service.id], ip: ['127.0.0.1'] });
    }
    const topology = await loadTopology(file, { checkFiles: true });
    return { dir: tmp.path, outDir: join(tmp.path, 'out'), topology, remove: tmp.remove };
  } catch (error) {
    tmp.remove();
    throw error;
  }
}

/** A two-hop topology: an NGINX edge in front of the WAF under test, then the Evidence Locker. */
export function wafDocument(ports: { edge: number; waf: number; service: number }, paranoiaLevel = 1): TopologyInput {
  return {
    apiVersion: 'stella-gateway/v1',
    kind: 'Topology',
    name: 'waf-test',
    trustDomain: 'stella.local',
    pki: { dir: './pki' },
    scanners: [{ id: 'scanner-01', signing: { keys: [{ kid: 'scanner-01-hmac', file: './keys/scanner-01.hmac' }] } }],
    hops: [
      {
        id: 'gw-edge',
        kind: 'nginx',
        listen: `127.0.0.1:${ports.edge}`,
        stamp: { via: 'native', keys: [{ kid: 'edge-1', file: './keys/gw-edge.key' }] },
        next: 'waf',
      },
      { id: 'waf', kind: 'apache-modsecurity', listen: `127.0.0.1:${ports.waf}`, stamp: false, waf: { paranoiaLevel }, next: 'evidence-locker' },
    ],
    // The WAF proxies to its next hop by serverName (mod_proxy has no separate SNI setting), so the
    // service is named `localhost`, which resolves on every machine.
    services: [{ id: 'evidence-locker', kind: 'evidence-locker', listen: `127.0.0.1:${ports.service}`, serverName: 'localhost', receiptKey: './keys/receipt.pem' }],
  };
}

/** A Caddy edge that stamps through its forward-auth stamper, in front of the Evidence Locker. */
export function caddyEdgeDocument(ports: { edge: number; stamper: number; service: number }): TopologyInput {
  return {
    apiVersion: 'stella-gateway/v1',
    kind: 'Topology',
    name: 'caddy-test',
    trustDomain: 'stella.local',
    pki: { dir: './pki' },
    scanners: [{ id: 'scanner-01', signing: { keys: [{ kid: 'scanner-01-hmac', file: './keys/scanner-01.hmac' }] } }],
    hops: [
      {
        id: 'gw-edge',
        kind: 'caddy',
        listen: `127.0.0.1:${ports.edge}`,
        stamp: { via: 'forward-auth', keys: [{ kid: 'edge-1', file: './keys/gw-edge.key' }], stamper: { listen: `127.0.0.1:${ports.stamper}` } },
        next: 'evidence-locker',
      },
    ],
    services: [{ id: 'evidence-locker', kind: 'evidence-locker', listen: `127.0.0.1:${ports.service}`, receiptKey: './keys/receipt.pem' }],
  };
}
