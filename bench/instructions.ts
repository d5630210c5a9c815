/**
 * The loops whose instruction counts bench/README.md ("Second round: instruction counts") reports:
 * one operation run N times, nothing printed. `bench/instructions.sh` bundles this file and counts
 * the instructions of a run under callgrind, minus those of a run with N = 0 (start-up), so a
 * before/after comparison holds on a machine whose load makes wall-clock ratios swing.
 *
 * Usage (bundled): node instructions.mjs OPERATION N [RECORDS]
 * Operations: check (checkHeaders + checkRequest), parse (parseProvenanceHeader), sha (one SHA-256
 * of the body: the checks' baseline), dsse-sign / dsse-verify (1 KiB, HMAC), hmac-raw (createHmac
 * over the same PAE: their baseline).
 */
import { createHash, createHmac } from 'node:crypto';
import { Registry } from 'prom-client';
import { createSigner, createVerifier, generateKey, pae, parseEnvelope, parseKeyFile, serializeEnvelope, signEnvelope, verifyEnvelope } from '../src/dsse/index.js';
import { parseProvenanceHeader } from '../src/provenance/codec.js';
import { prepareProvenance } from '../src/provenance/options.js';
import type { ReplayCache } from '../src/provenance/replay/cache.js';
import { checkHeaders, checkRequest } from '../src/provenance/verify.js';
import { buildRequest, fixtureKeys, fixtureTopology, NOW_MS, SERVICE } from '../test/provenance/support/fixture.js';

const [operation = 'check', count = '0', recordCount = '3'] = process.argv.slice(2);
const n = Number(count);
const admitAll: ReplayCache = { checkAndRemember: async () => true, forget: async () => undefined, close: async () => undefined };

/** The provenance operations over a request stamped by `records` hops (the bench's fixture). */
function provenanceOperation(name: string, records: number): () => unknown {
  const topology = fixtureTopology(records, 16);
  const keys = fixtureKeys(topology);
  const lastHop = topology.services.find((s) => s.id === SERVICE)!.chain.at(-1)!.id;
  const { ctx } = prepareProvenance({ topology, serviceId: SERVICE, hopKeys: keys, now: () => NOW_MS, replayCache: admitAll, metrics: { registry: new Registry() } });
  const built = buildRequest(topology, keys, { url: '/api/v1/evidence' });
  const peer = { cn: lastHop, fingerprint: 'sha256:', spiffeId: `spiffe://${topology.trustDomain}/gateway/${lastHop}` };
  const incoming = { method: 'POST', url: built.url, headers: built.headers, peer };
  if (name === 'check') return () => checkRequest(checkHeaders(incoming, ctx), { body: built.body, envelope: null }, ctx);
  if (name === 'parse') return () => parseProvenanceHeader(built.headers['x-stella-provenance']!, topology.provenance);
  return () => createHash('sha256').update(built.body!).digest();
}

/** The DSSE operations at 1 KiB with one HMAC key, as bench/dsse.bench.ts measures them. */
async function dsseOperation(name: string): Promise<() => unknown> {
  const type = 'application/vnd.in-toto+json';
  const key = parseKeyFile(Buffer.from(generateKey('hmac-sha256').private));
  if (key.type !== 'secret') throw new TypeError('an HMAC key is a secret');
  const payload = Buffer.alloc(1024, 0x61);
  const signer = createSigner(key);
  const options = { payloadType: type, verifiers: [createVerifier(key)] };
  const env = parseEnvelope(serializeEnvelope(await signEnvelope(type, payload, [signer])));
  const encoded = pae(type, payload);
  if (name === 'dsse-sign') return () => signEnvelope(type, payload, [signer]);
  if (name === 'dsse-verify') return () => verifyEnvelope(env, options);
  return () => createHmac('sha256', key.secret).update(encoded).digest();
}

const operations = new Set(['check', 'parse', 'sha', 'dsse-sign', 'dsse-verify', 'hmac-raw']);
if (!operations.has(operation) || !Number.isSafeInteger(n) || n < 0) {
  throw new TypeError(`usage: instructions OPERATION N [RECORDS]; OPERATION one of ${[...operations].join(', ')}`);
}
const task = operation.startsWith('dsse') || operation === 'hmac-raw' ? await dsseOperation(operation) : provenanceOperation(operation, Number(recordCount));
// Awaited like bench/support.ts's compare(), so the async APIs pay their promise as they do there.
for (let i = 0; i < n; i++) await task();
