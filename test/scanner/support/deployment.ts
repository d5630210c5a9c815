/**
 * A small real deployment for the scanner tests: a PKI made by the product's own `initPki` /
 * `issueCertificate`, an HMAC signing key for the scanner, an Ed25519 receipt key pair for the
 * stand-in locker, and a topology file whose edge listens where the stand-in edge does.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKey } from '../../../src/dsse/index.js';
import { initPki, issueCertificate } from '../../../src/pki/index.js';

/** Files of a test deployment. */
export interface TestDeployment {
  dir: string;
  topologyFile: string;
  caBundle: string;
  scanner: { id: string; cert: string; key: string; chain: string };
  edge: { cert: string; key: string; chain: string; serverName: string };
  hmacKeyFile: string;
  receiptPrivateKeyFile: string;
  receiptPublicKeyFile: string;
}

/** Creates the PKI, keys and topology under `dir`. `edgePort` is where the stand-in edge listens. */
export async function createTestDeployment(dir: string, edgePort: number): Promise<TestDeployment> {
  const pkiDir = join(dir, 'pki');
  await initPki({ dir: pkiDir, trustDomain: 'stella.test' });
  const scanner = await issueCertificate({ dir: pkiDir, role: 'scanner', name: 'scanner-01' });
  const edge = await issueCertificate({ dir: pkiDir, role: 'gateway', name: 'gw-edge', dns: ['gw-edge'], ip: ['127.0.0.1'] });
  const keys = join(dir, 'keys');
  mkdirSync(keys, { recursive: true });
  const hmacKeyFile = join(keys, 'scanner-01.hmac');
  writeFileSync(hmacKeyFile, `${generateKey('hmac-sha256').private}\n`, { mode: 0o600 });
  const edgeMacKey = join(keys, 'gw-edge.key');
  writeFileSync(edgeMacKey, `${generateKey('hmac-sha256').private}\n`, { mode: 0o600 });
  const receipt = generateKey('ed25519');
  const receiptPrivateKeyFile = join(keys, 'receipt.pem');
  writeFileSync(receiptPrivateKeyFile, receipt.private, { mode: 0o600 });
  writeFileSync(`${receiptPrivateKeyFile}.pub`, receipt.public ?? '');

  const topologyFile = join(dir, 'topology.yaml');
  writeFileSync(
    topologyFile,
    [
      'apiVersion: stella-gateway/v1',
      'kind: Topology',
      'name: demo',
      'trustDomain: stella.test',
      'pki: { dir: ./pki }',
      'scanners:',
      '  - id: scanner-01',
      '    signing: { keys: [ { kid: scanner-01-hmac, file: ./keys/scanner-01.hmac } ] }',
      'hops:',
      '  - id: gw-edge',
      '    kind: nginx',
      `    listen: 127.0.0.1:${edgePort}`,
      '    stamp: { via: native, keys: [ { kid: edge-1, file: ./keys/gw-edge.key } ] }',
      '    next: evidence-locker',
      'services:',
      '  - id: evidence-locker',
      '    kind: evidence-locker',
      '    listen: 127.0.0.1:1',
      '    receiptKey: ./keys/receipt.pem',
      '',
    ].join('\n'),
  );
  const paths = (role: string, name: string) => {
    const d = join(pkiDir, 'issued', role, name);
    return { cert: join(d, 'cert.pem'), key: join(d, 'key.pem'), chain: join(d, 'chain.pem') };
  };
  if (!scanner.paths || !edge.paths) throw new Error('issueCertificate wrote no files');
  return {
    dir,
    topologyFile,
    caBundle: join(pkiDir, 'ca-bundle.pem'),
    scanner: { id: 'scanner-01', ...paths('scanner', 'scanner-01') },
    edge: { ...paths('gateway', 'gw-edge'), serverName: 'gw-edge' },
    hmacKeyFile,
    receiptPrivateKeyFile,
    receiptPublicKeyFile: `${receiptPrivateKeyFile}.pub`,
  };
}
