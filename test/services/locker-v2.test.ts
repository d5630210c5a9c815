/**
 * The Evidence Locker with provenance v2 (docs/provenance.md#part-2-version-2): it verifies and
 * stores the v2 members, the receipt embeds them, an auditor re-verifies a stored chain with the
 * hops' public keys alone — and the locker's own key material cannot forge a hop's member.
 */
import { describe, it, before, after } from 'node:test';
import { strict as assert } from 'node:assert';
import { createSecretKey, generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createSigner, parseEnvelope, serializeEnvelope } from '../../src/dsse/index.js';
import { buildReceipt, verifyReceipt } from '../../src/evidence/receipt.js';
import { verifyEvidenceRecord } from '../../src/evidence/verify.js';
import { buildLockerApp } from '../../src/services/locker/app.js';
import { openSqliteStore } from '../../src/storage/sqlite.js';
import type { EvidenceRecord, EvidenceStore } from '../../src/storage/types.js';
import { tempDir } from '../support/tmp.js';
import { verifyEveryLabel } from '../interop/support/rfc9421.js';
import { provenanceOptions, scannerKeyring, send, sha256Hex, signedEnvelope, stamp, testKeys, type TestKeys } from './support/fixture.js';
import { honestSigner, stampV2Request, v2HopKeyPairs, v2ServiceTopology, type MemberSigner, type V2HopKeyPairs } from './support/v2.js';
import { NOW_MS } from './support/locker.js';
import type { FastifyInstance } from 'fastify';
import { writeFileSync } from 'node:fs';
import { runEvidenceVerify } from '../../src/cli/commands/evidence.js';
import { CliError } from '../../src/cli/output.js';

interface World {
  dir: string;
  app: FastifyInstance;
  store: EvidenceStore;
  keys: TestKeys;
  pairs: V2HopKeyPairs;
  dispose: () => Promise<void>;
}

async function world(): Promise<World> {
  const dir = tempDir('stella-locker-v2-');
  const topology = v2ServiceTopology();
  const keys = testKeys();
  const pairs = v2HopKeyPairs();
  const store = openSqliteStore({ file: join(dir.path, 'evidence.db') });
  const app = await buildLockerApp({
    topology,
    serviceId: 'evidence-locker',
    store,
    receiptSigner: createSigner(keys.receiptPrivate, 'locker-receipt'),
    provenance: { ...provenanceOptions(keys, () => NOW_MS), v2Keys: pairs.publicRing },
    now: () => NOW_MS,
    registry: new Registry(),
  });
  await app.ready();
  return { dir: dir.path, app, store, keys, pairs, dispose: async () => void (await app.close(), dir.remove()) };
}

async function ingestV2(w: World, scanId: string, signer: MemberSigner = honestSigner(w.pairs)) {
  const body = await signedEnvelope(w.keys, { scanId, nowMs: NOW_MS });
  const request = stampV2Request(v2ServiceTopology(), signer, { method: 'POST', url: '/api/v1/evidence', scanId, body, nowMs: NOW_MS });
  return { body, request, response: await send(w.app, request) };
}

function problem(response: { statusCode: number; json: () => unknown }): [number, string] {
  return [response.statusCode, (response.json() as { code: string }).code];
}

describe('Evidence Locker with provenance v2', () => {
  let w: World;
  before(async () => {
    w = await world();
  });
  after(() => w.dispose());

  it('stores the v2 members as received, and the receipt embeds the chain', async () => {
    const { body, request, response } = await ingestV2(w, 'scan-v2-1');
    assert.equal(response.statusCode, 201, response.body);
    const stored = (await w.store.getEvidence(sha256Hex(body)))!;
    assert.deepEqual(stored.provenanceV2, { signatureInput: request.headers['signature-input'], signature: request.headers.signature });
    assert.deepEqual(stored.hops.map((h) => [h.id, h.alg, h.mac]), [['gw-edge', 'ed25519', undefined], ['gw-internal', 'ecdsa-p256-sha256', undefined]]);
    const receipt = await verifyReceipt(parseEnvelope((response.json() as { receipt: unknown }).receipt), { publicKey: w.keys.receiptPublic, expectedEnvelopeSha256: sha256Hex(body) });
    assert.deepEqual(receipt.predicate.provenanceV2, { ...stored.provenanceV2, request: stored.request });
    assert.deepEqual(receipt.predicate.hops.map((h) => h.alg), ['ed25519', 'ecdsa-p256-sha256']);
  });

  it('lets an auditor re-verify the stored chain with the hops\' public keys alone, and an independent RFC 9421 library agrees per label', async () => {
    const { body } = await ingestV2(w, 'scan-v2-2');
    const stored = (await w.store.getEvidence(sha256Hex(body)))!;
    const result = await verifyEvidenceRecord(stored, { receiptKey: w.keys.receiptPublic, scannerKeys: scannerKeyring(w.keys), v2Keys: w.pairs.publicRing });
    assert.equal(result.ok, true, JSON.stringify(result.checks));
    assert.match(result.checks.find((c) => c.name === 'signatures')!.detail, /gw-edge: ed25519, gw-internal: ecdsa-p256-sha256.*no HMAC hop/);
    const keys = new Map([...w.pairs.publicRing].flatMap(([, hk]) => [...hk.keys].map(([kid, key]) => [kid, { alg: hk.alg, key }] as const)));
    const message = { method: stored.request!.method, url: stored.request!.pathAndQuery, headers: { 'x-stella-scan-id': stored.scanId, 'content-digest': stored.request!.contentDigest!, 'signature-input': stored.provenanceV2!.signatureInput, signature: stored.provenanceV2!.signature } };
    assert.deepEqual(await verifyEveryLabel(message, keys), [['stella-1-gw-edge', true], ['stella-2-gw-internal', true]]);
  });

  it('refuses a request that carries only v1 records: the locker requires v2', async () => {
    const body = await signedEnvelope(w.keys, { scanId: 'scan-v1-only', nowMs: NOW_MS });
    const v1 = stamp(v2ServiceTopology(), w.keys, { method: 'POST', url: '/api/v1/evidence', scanId: 'scan-v1-only', body, nowMs: NOW_MS });
    assert.deepEqual(problem(await send(w.app, v1)), [401, 'provenance-missing']);
    assert.equal(await w.store.getEvidence(sha256Hex(body)), null);
  });
});

describe('what the locker\'s own key material can forge under v2 (nothing)', () => {
  let w: World;
  before(async () => {
    w = await world();
  });
  after(() => w.dispose());

  // Everything a compromised locker holds: the topology, the hops' PUBLIC keys, its receipt key,
  // and (during the migration) every hop's v1 MAC key. No hop's private key.
  const attempts: [string, (w: World) => MemberSigner][] = [
    ['the edge member signed with the locker\'s receipt key (Ed25519) under the edge\'s keyid', (x) => (hop) => (hop === 'gw-edge' ? { alg: 'ed25519', key: x.keys.receiptPrivate.type === 'private' ? x.keys.receiptPrivate.privateKey : assert.fail(), keyid: 'gw-edge-v2' } : honestSigner(x.pairs)(hop))],
    ['the edge member as hmac-sha256 with the edge\'s v1 MAC key', (x) => (hop) => (hop === 'gw-edge' ? { alg: 'hmac-sha256', key: createSecretKey(x.keys.hopKeys.get('gw-edge')!.get('edge-1')!), keyid: 'gw-edge-v2' } : honestSigner(x.pairs)(hop))],
    ['the edge member as hmac-sha256 keyed with the edge\'s public key (algorithm confusion)', (x) => (hop) => (hop === 'gw-edge' ? { alg: 'hmac-sha256', key: createSecretKey(x.pairs.publicRing.get('gw-edge')!.keys.get('gw-edge-v2')!.export({ type: 'spki', format: 'der' })), keyid: 'gw-edge-v2' } : honestSigner(x.pairs)(hop))],
    ['the internal member (ECDSA) signed with a fresh P-256 key of the locker\'s', () => { const mine = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey; return (hop) => (hop === 'gw-internal' ? { alg: 'ecdsa-p256-sha256', key: mine, keyid: 'gw-internal-v2' } : honestSigner(w.pairs)(hop)); }],
  ];
  for (const [name, signer] of attempts) {
    it(`refuses ${name} (401 provenance-tampered), storing nothing`, async () => {
      const { body, response } = await ingestV2(w, `scan-forged-${attempts.findIndex((a) => a[0] === name)}`, signer(w));
      assert.deepEqual(problem(response), [401, 'provenance-tampered']);
      assert.equal(await w.store.getEvidence(sha256Hex(body)), null);
    });
  }

  it('a stored record rewritten by the locker, even with a freshly signed receipt, fails the public-key check', async () => {
    const { body } = await ingestV2(w, 'scan-genuine');
    const genuine = (await w.store.getEvidence(sha256Hex(body)))!;
    // The locker moves the evidence to another scan and re-signs the receipt with its own key.
    const forged: EvidenceRecord = { ...genuine, request: { ...genuine.request!, pathAndQuery: '/api/v1/evidence?moved=1' } };
    const receipt = JSON.parse(Buffer.from(parseEnvelope(JSON.parse(genuine.receipt)).payload).toString('utf8')) as { predicate: Record<string, unknown> };
    const predicate = { ...(receipt.predicate as object), provenanceV2: { ...genuine.provenanceV2!, request: forged.request! } } as Parameters<typeof buildReceipt>[0];
    const resigned = await buildReceipt({ ...predicate, envelopeSha256: genuine.sha256 }, createSigner(w.keys.receiptPrivate, 'locker-receipt'));
    const result = await verifyEvidenceRecord({ ...forged, receipt: serializeEnvelope(resigned) }, { receiptKey: w.keys.receiptPublic, scannerKeys: scannerKeyring(w.keys), v2Keys: w.pairs.publicRing });
    assert.equal(result.checks.find((c) => c.name === 'receipt')!.ok, true, 'the locker can re-sign its own receipt');
    const signatures = result.checks.find((c) => c.name === 'signatures')!;
    assert.equal(signatures.ok, false);
    assert.match(signatures.detail, /hop gw-edge: signature does not verify/);
    assert.equal(result.ok, false);
  });
});

describe('evidence verify --hop-key on a v2 store (public keys only)', () => {
  let w: World;
  before(async () => {
    w = await world();
  });
  after(() => w.dispose());

  async function verifyCli(sha256: string, hopKeys: string[]): Promise<{ ok: boolean; records: { checks: { name: string; ok: boolean; detail: string }[] }[] }> {
    const scanner = w.keys.scanners.get('scanner-01')!;
    writeFileSync(join(w.dir, 'scanner-01.hmac'), scanner.type === 'secret' ? scanner.secret.toString('base64') : assert.fail());
    writeFileSync(join(w.dir, 'receipt.pub.pem'), w.keys.receiptPublicPem);
    let out = '';
    try {
      await runEvidenceVerify({ db: join(w.dir, 'evidence.db'), sha256, receiptKey: join(w.dir, 'receipt.pub.pem'), key: [`scanner-01=${join(w.dir, 'scanner-01.hmac')}`], hopKey: hopKeys, json: true }, (text) => void (out += text));
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
    }
    return JSON.parse(out) as { ok: boolean; records: { checks: { name: string; ok: boolean; detail: string }[] }[] };
  }

  it('verifies every stored member with the hops\' public key files, and fails with another hop\'s key; refuses a private key', async () => {
    const { body } = await ingestV2(w, 'scan-cli-v2');
    for (const [hop, entry] of w.pairs.publicRing) writeFileSync(join(w.dir, `${hop}.pub.pem`), [...entry.keys.values()][0]!.export({ type: 'spki', format: 'pem' }) as string);
    const good = await verifyCli(sha256Hex(body), [`gw-edge=${join(w.dir, 'gw-edge.pub.pem')}`, `gw-internal=${join(w.dir, 'gw-internal.pub.pem')}`]);
    assert.equal(good.ok, true, JSON.stringify(good));
    assert.match(good.records[0]!.checks.find((c) => c.name === 'signatures')!.detail, /every v2 member verifies/);
    // The edge's key given for the internal hop: wrong algorithm for that member.
    const swapped = await verifyCli(sha256Hex(body), [`gw-edge=${join(w.dir, 'gw-edge.pub.pem')}`, `gw-internal=${join(w.dir, 'gw-edge.pub.pem')}`]);
    assert.equal(swapped.ok, false);
    assert.match(swapped.records[0]!.checks.find((c) => c.name === 'signatures')!.detail, /hop gw-internal: signed with ecdsa-p256-sha256, the key given is ed25519/);
    writeFileSync(join(w.dir, 'edge.private.pem'), w.pairs.private.get('gw-edge')!.export({ type: 'pkcs8', format: 'pem' }) as string);
    await assert.rejects(
      runEvidenceVerify({ db: join(w.dir, 'evidence.db'), sha256: sha256Hex(body), receiptKey: join(w.dir, 'receipt.pub.pem'), key: [`scanner-01=${join(w.dir, 'scanner-01.hmac')}`], hopKey: [`gw-edge=${join(w.dir, 'edge.private.pem')}`] }, () => undefined),
      (e: unknown) => e instanceof CliError && /a private key/.test(e.message),
    );
  });
});
