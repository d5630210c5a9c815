/**
 * DSSE envelopes, in-toto statements and traversal receipts checked by an independent
 * implementation (docs/dsse.md): Debian's python3-securesystemslib (signatures) with PAE and the
 * statement read in Python (test/interop/support/dsse_oracle.py), and back: envelopes Python signs
 * verify in the product.
 */
import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  ALGORITHM_NAMES,
  buildScanArtifactStatement,
  createSigner,
  createVerifier,
  generateKey,
  IN_TOTO_PAYLOAD_TYPE,
  IN_TOTO_STATEMENT_TYPE,
  parseEnvelope,
  parseKeyFile,
  pae,
  serializeEnvelope,
  serializeStatement,
  signEnvelope,
  TRAVERSAL_INTENT_PREDICATE_TYPE,
  verifyEnvelope,
  type Algorithm,
} from '../../src/dsse/index.js';
import { buildReceipt, TRAVERSAL_RECEIPT_PREDICATE_TYPE } from '../../src/evidence/receipt.js';

/** Debian's interpreter: the one python3-securesystemslib installs into (a pyenv python3 would not see it). */
const PYTHON = '/usr/bin/python3';
const ORACLE = 'test/interop/support/dsse_oracle.py';

function oracle(request: unknown): unknown {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing; install the system packages with: bash scripts/install-system-deps.sh`);
  try {
    return JSON.parse(execFileSync(PYTHON, [ORACLE], { input: JSON.stringify(request), encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] })) as unknown;
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '');
    if (/No module named 'securesystemslib'|No module named 'cryptography'/.test(stderr)) {
      throw new Error('python3-securesystemslib is missing; install the system packages with: bash scripts/install-system-deps.sh', { cause: error });
    }
    throw error;
  }
}

interface OracleResult {
  verified: number;
  paeSha256: string;
  statement: Record<string, unknown> | null;
}

/** A key of every algorithm, as the product generates it, and what the oracle needs to check it. */
function keyOf(alg: Algorithm): { signer: ReturnType<typeof createSigner>; oracleKey: Record<string, string> } {
  const generated = generateKey(alg);
  const material = parseKeyFile(Buffer.from(generated.private));
  const oracleKey: Record<string, string> = { algorithm: alg };
  if (alg === 'hmac-sha256') oracleKey.secretBase64 = generated.private.trim();
  else oracleKey.publicPem = generated.public!;
  return { signer: createSigner(material), oracleKey };
}

const intent = {
  scanId: 'scan-interop-1',
  topology: 'demo',
  edgeHop: 'gw-edge',
  clientCertSha256: `sha256:${'ab'.repeat(32)}`,
  nonce: randomBytes(16).toString('hex'),
  issuedAt: '2026-12-07T00:00:00Z',
};

describe('DSSE read by securesystemslib (Python)', () => {
  it('verifies an envelope of every algorithm the product signs, over the same PAE bytes', async () => {
    const artifactSha256 = createHash('sha256').update('sbom').digest('hex');
    const payload = serializeStatement(buildScanArtifactStatement({ artifact: { name: 'sbom.json', sha256: artifactSha256 }, intent }));
    const cases = await Promise.all(
      ALGORITHM_NAMES.map(async (alg) => {
        const { signer, oracleKey } = keyOf(alg);
        const envelope = await signEnvelope(IN_TOTO_PAYLOAD_TYPE, payload, [signer]);
        return { alg, envelope: JSON.parse(serializeEnvelope(envelope)) as unknown, key: oracleKey };
      }),
    );
    const { results } = oracle({ mode: 'verify', cases }) as { results: OracleResult[] };
    const paeSha256 = createHash('sha256').update(pae(IN_TOTO_PAYLOAD_TYPE, payload)).digest('hex');
    results.forEach((result, i) => {
      assert.equal(result.verified, 1, `${cases[i]!.alg}: securesystemslib verifies the product's signature`);
      assert.equal(result.paeSha256, paeSha256, `${cases[i]!.alg}: the same PAE bytes`);
      assert.equal(result.statement?._type, IN_TOTO_STATEMENT_TYPE);
      assert.equal(result.statement?.predicateType, TRAVERSAL_INTENT_PREDICATE_TYPE);
      assert.deepEqual(result.statement?.subject, [{ name: 'sbom.json', digest: { sha256: artifactSha256 } }]);
      assert.deepEqual(result.statement?.predicate, intent, 'Python reads the traversal intent the product wrote');
    });
  });

  it('does not verify a signature over another payload (the oracle is not a yes-machine)', async () => {
    const { signer, oracleKey } = keyOf('ed25519');
    const envelope = JSON.parse(serializeEnvelope(await signEnvelope('text/plain', Buffer.from('a'), [signer]))) as { payload: string };
    envelope.payload = Buffer.from('b').toString('base64');
    const { results } = oracle({ mode: 'verify', cases: [{ envelope, key: oracleKey }] }) as { results: OracleResult[] };
    assert.equal(results[0]!.verified, 0);
  });

  it("verifies a traversal receipt with the locker's Ed25519 key and reads its in-toto statement", async () => {
    const { signer, oracleKey } = keyOf('ed25519');
    const envelopeSha256 = createHash('sha256').update('envelope bytes').digest('hex');
    const receipt = await buildReceipt(
      {
        envelopeSha256,
        service: 'evidence-locker',
        topology: 'demo',
        scanId: 'scan-interop-1',
        receivedAt: '2026-12-07T00:00:01.000Z',
        hops: [{ id: 'gw-edge', seq: 1, ts: 1796601600, peer: `sha256:${'ab'.repeat(32)}`, peerId: 'scanner-01', kid: 'edge-1' }],
        verification: { provenance: 'verified', binding: 'verified', envelope: { result: 'verified', payloadType: IN_TOTO_PAYLOAD_TYPE, threshold: 1, acceptedKeyids: ['k'] } },
      },
      signer,
    );
    const { results } = oracle({ mode: 'verify', cases: [{ envelope: JSON.parse(serializeEnvelope(receipt)) as unknown, key: oracleKey }] }) as { results: OracleResult[] };
    const [result] = results;
    assert.equal(result!.verified, 1);
    assert.equal(result!.statement?._type, IN_TOTO_STATEMENT_TYPE);
    assert.equal(result!.statement?.predicateType, TRAVERSAL_RECEIPT_PREDICATE_TYPE);
    assert.deepEqual(result!.statement?.subject, [{ name: 'dsse-envelope', digest: { sha256: envelopeSha256 } }]);
  });
});

describe('DSSE made by Python, read by the product', () => {
  it('verifies envelopes that Python signed with every algorithm, and refuses them under another key', async () => {
    const payload = Buffer.from(JSON.stringify({ _type: IN_TOTO_STATEMENT_TYPE, subject: [], predicateType: 'x' }));
    const { signed } = oracle({ mode: 'sign', payloadType: IN_TOTO_PAYLOAD_TYPE, payloadBase64: payload.toString('base64') }) as {
      signed: { envelope: unknown; key: { algorithm: Algorithm; publicPem?: string; secretBase64?: string } }[];
    };
    assert.deepEqual(signed.map((s) => s.key.algorithm).sort(), [...ALGORITHM_NAMES].sort());
    for (const { envelope, key } of signed) {
      const material = parseKeyFile(Buffer.from(key.publicPem ?? key.secretBase64!));
      const verified = await verifyEnvelope(parseEnvelope(Buffer.from(JSON.stringify(envelope))), { payloadType: IN_TOTO_PAYLOAD_TYPE, verifiers: [createVerifier(material)] });
      assert.deepEqual(Buffer.from(verified.payload), payload, key.algorithm);
      const other = parseKeyFile(Buffer.from(generateKey(key.algorithm).public ?? generateKey('hmac-sha256').private));
      await assert.rejects(verifyEnvelope(parseEnvelope(Buffer.from(JSON.stringify(envelope))), { payloadType: IN_TOTO_PAYLOAD_TYPE, verifiers: [createVerifier(other)] }), { code: 'DSSE_THRESHOLD_NOT_MET' });
    }
  });
});
