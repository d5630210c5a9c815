/**
 * Child process of artifact.bench.ts: the real locker app (SQLite store, provenance checks, receipt
 * key) on plain HTTP with an artifact limit above 64 MiB, so its peak RSS while ingesting one artifact
 * is measured alone. Prints `listening <port>`; then on stdin `reset` sets the RSS high-water mark
 * to the current RSS (proc(5), clear_refs 5) and answers `ok <rssBytes>`, and `peak` answers
 * `peak <bytes the high-water mark grew since reset>`.
 * Usage: node --import tsx bench/artifact-locker.ts CONFIG.json
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createSigner, hmacKeyFromSecret, parseKeyFile } from '../src/dsse/index.js';
import { decodeBase64Strict } from '../src/dsse/base64.js';
import { buildLockerApp } from '../src/services/locker/app.js';
import { openSqliteStore } from '../src/storage/sqlite.js';
import { provenanceOptions, SCANNER_ID, serviceTopology, TEST_SCANNERS, type TestKeys } from '../test/services/support/fixture.js';

/** What the bench writes for the child. */
export interface ArtifactLockerConfig {
  dbFile: string;
  maxArtifactBytes: number;
  hopKeys: Record<string, Record<string, string>>;
  scannerSecret: string;
  receiptPrivatePem: string;
}

const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as ArtifactLockerConfig;
const scanner = hmacKeyFromSecret(decodeBase64Strict(config.scannerSecret));
const receiptPrivate = parseKeyFile(Buffer.from(config.receiptPrivatePem));
const keys: TestKeys = {
  hopKeys: new Map(Object.entries(config.hopKeys).map(([hop, ring]) => [hop, new Map(Object.entries(ring).map(([kid, b64]) => [kid, decodeBase64Strict(b64)]))])),
  scanner,
  scanners: new Map(TEST_SCANNERS.map((id) => [id, id === SCANNER_ID ? scanner : hmacKeyFromSecret(randomBytes(32))] as const)),
  receiptPrivate,
  receiptPublic: receiptPrivate,
  receiptPublicPem: '',
};
const app = await buildLockerApp({
  topology: serviceTopology('evidence-locker', { maxArtifactBytes: config.maxArtifactBytes }),
  serviceId: 'evidence-locker',
  store: openSqliteStore({ file: config.dbFile }),
  receiptSigner: createSigner(keys.receiptPrivate, 'locker-receipt'),
  provenance: provenanceOptions(keys, Date.now),
});
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : 0}\n`);

const status = (field: 'VmHWM' | 'VmRSS'): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) * 1024;
let base = 0;
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'reset') {
    globalThis.gc?.();
    writeFileSync('/proc/self/clear_refs', '5');
    base = status('VmHWM');
    process.stdout.write(`ok ${status('VmRSS')}\n`);
  } else if (line === 'peak') {
    process.stdout.write(`peak ${status('VmHWM') - base}\n`);
  }
}
await app.close();
