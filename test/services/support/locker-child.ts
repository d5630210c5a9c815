/**
 * A locker in a process of its own, for the kill -9 test: serves the real locker app (real SQLite
 * file, real receipt key, real provenance checks) over plain HTTP on a free port and prints
 * `listening <port>` once ready. Usage: node --import tsx locker-child.ts CONFIG.json
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSigner, decodeBase64Strict, hmacKeyFromSecret, parseKeyFile } from '../../../src/dsse/index.js';
import { buildLockerApp } from '../../../src/services/locker/app.js';
import { openSqliteStore } from '../../../src/storage/sqlite.js';
import { provenanceOptions, SCANNER_ID, serviceTopology, TEST_SCANNERS, type TestKeys } from './fixture.js';

/** What the parent writes for the child. */
export interface ChildConfig {
  dbFile: string;
  hopKeys: Record<string, Record<string, string>>;
  scannerSecret: string;
  receiptPrivatePem: string;
  receiptPublicPem: string;
}

const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as ChildConfig;
const scanner = hmacKeyFromSecret(decodeBase64Strict(config.scannerSecret));
const keys: TestKeys = {
  hopKeys: new Map(Object.entries(config.hopKeys).map(([hop, ring]) => [hop, new Map(Object.entries(ring).map(([kid, b64]) => [kid, decodeBase64Strict(b64)]))])),
  scanner,
  // Only scanner-01 sends in this test; the others get keys of their own that nobody uses.
  scanners: new Map(TEST_SCANNERS.map((id) => [id, id === SCANNER_ID ? scanner : hmacKeyFromSecret(randomBytes(32))] as const)),
  receiptPrivate: parseKeyFile(Buffer.from(config.receiptPrivatePem)),
  receiptPublic: parseKeyFile(Buffer.from(config.receiptPublicPem)),
  receiptPublicPem: config.receiptPublicPem,
};
const app = await buildLockerApp({
  topology: serviceTopology('evidence-locker'),
  serviceId: 'evidence-locker',
  store: openSqliteStore({ file: config.dbFile }),
  receiptSigner: createSigner(keys.receiptPrivate, 'locker-receipt'),
  provenance: provenanceOptions(keys, Date.now),
});
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : 0}\n`);
