import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DsseError,
  IN_TOTO_STATEMENT_TYPE,
  TRAVERSAL_INTENT_PREDICATE_TYPE,
  buildScanArtifactStatement,
  buildStatement,
  parseStatement,
  parseTraversalIntent,
  serializeStatement,
} from '../../src/dsse/index.js';
import type { TraversalIntent } from '../../src/dsse/index.js';
import { codeOf } from './support/keys.js';

const intent: TraversalIntent = {
  scanId: 'scan-2026.11:42',
  topology: 'demo',
  edgeHop: 'gw-edge',
  clientCertSha256: `sha256:${'ab'.repeat(32)}`,
  nonce: '4f9c0d2e8a7b6c5d',
  issuedAt: '2026-11-28T18:00:00Z',
};
const artifact = { name: 'sbom.spdx.json', sha256: 'cd'.repeat(32) };

describe('buildScanArtifactStatement', () => {
  it('puts the artifact digest in the subject and the intent in the predicate, and round-trips', () => {
    const statement = buildScanArtifactStatement({ artifact, intent });
    assert.equal(statement._type, IN_TOTO_STATEMENT_TYPE);
    assert.deepEqual(statement.subject, [{ name: artifact.name, digest: { sha256: artifact.sha256 } }]);
    assert.equal(statement.predicateType, TRAVERSAL_INTENT_PREDICATE_TYPE);
    const parsed = parseStatement(serializeStatement(statement));
    assert.deepEqual(parsed, statement);
    assert.deepEqual(parseTraversalIntent(parsed), intent);
  });

  it('refuses a malformed digest or intent as a caller error', () => {
    assert.throws(() => buildScanArtifactStatement({ artifact: { ...artifact, sha256: 'CD'.repeat(32) }, intent }), TypeError);
    assert.throws(() => buildScanArtifactStatement({ artifact, intent: { ...intent, clientCertSha256: 'ab'.repeat(32) } }), TypeError);
  });

  it('round-trips any valid intent', () => {
    const hex = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: min, maxLength: max });
    const arbitraryIntent = fc.record({
      scanId: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/),
      topology: fc.stringMatching(/^[a-z][a-z0-9.-]{0,62}$/), // the topology name (docs/topology.md#fields)
      edgeHop: fc.stringMatching(/^[a-z][a-z0-9.-]{0,62}$/),
      clientCertSha256: hex(64, 64).map((h) => `sha256:${h}`),
      nonce: hex(16, 64),
      issuedAt: fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
    });
    fc.assert(
      fc.property(arbitraryIntent, hex(64, 64), (i, sha256) => {
        const statement = parseStatement(serializeStatement(buildScanArtifactStatement({ artifact: { name: 'a', sha256 }, intent: i })));
        assert.deepEqual(parseTraversalIntent(statement), { ...i });
      }),
    );
  });
});

describe('parseStatement', () => {
  const valid = JSON.parse(serializeStatement(buildStatement({ subject: [{ name: 'x', digest: { sha256: 'ab'.repeat(32) } }], predicateType: 'https://example.com/p' })).toString()) as Record<string, unknown>;

  for (const [name, value] of [
    ['a wrong _type', { ...valid, _type: 'https://in-toto.io/Statement/v0.1' }],
    ['an empty subject', { ...valid, subject: [] }],
    ['a subject without digest', { ...valid, subject: [{ name: 'x', digest: {} }] }],
    ['an upper-case digest', { ...valid, subject: [{ name: 'x', digest: { sha256: 'AB'.repeat(32) } }] }],
    ['a short sha256', { ...valid, subject: [{ name: 'x', digest: { sha256: 'ab' } }] }],
    ['a missing predicateType', { ...valid, predicateType: undefined }],
    ['a predicate that is an array', { ...valid, predicate: [] }],
  ] as const) {
    it(`rejects ${name} with DSSE_STATEMENT_INVALID`, async () => {
      assert.equal(await codeOf(() => parseStatement(Buffer.from(JSON.stringify(value)))), 'DSSE_STATEMENT_INVALID');
    });
  }

  it('rejects bytes that are not UTF-8 JSON with DSSE_STATEMENT_INVALID', async () => {
    assert.equal(await codeOf(() => parseStatement(Buffer.from([0xff, 0x7b]))), 'DSSE_STATEMENT_INVALID');
  });

  it('never throws anything but a DsseError for random JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        try {
          parseStatement(Buffer.from(JSON.stringify(v) ?? 'null'));
        } catch (error) {
          assert.ok(error instanceof DsseError && error.code === 'DSSE_STATEMENT_INVALID');
        }
      }),
    );
  });
});

describe('parseTraversalIntent', () => {
  const statement = buildScanArtifactStatement({ artifact, intent });

  it('rejects a statement of another predicate type', async () => {
    assert.equal(await codeOf(() => parseTraversalIntent({ ...statement, predicateType: 'https://slsa.dev/provenance/v1' })), 'DSSE_STATEMENT_INVALID');
  });

  for (const [field, bad] of [
    ['scanId', '-starts-with-dash'],
    ['edgeHop', 'Gw-Edge'],
    ['clientCertSha256', `sha256:${'AB'.repeat(32)}`],
    ['nonce', 'abc'],
    ['issuedAt', '2026-11-28 18:00:00'],
    ['issuedAt', '2026-13-45T99:00:00Z'],
  ] as const) {
    it(`rejects an intent whose ${field} is ${JSON.stringify(bad)}`, async () => {
      const predicate = { ...statement.predicate, [field]: bad };
      assert.equal(await codeOf(() => parseTraversalIntent({ ...statement, predicate })), 'DSSE_STATEMENT_INVALID');
    });
  }
});
