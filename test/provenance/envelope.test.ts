import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  IN_TOTO_PAYLOAD_TYPE,
  buildScanArtifactStatement,
  createSigner,
  createVerifier,
  hmacKeyFromSecret,
  serializeEnvelope,
  serializeStatement,
  signEnvelope,
  type TraversalIntent,
} from '../../src/dsse/index.js';
import Fastify from 'fastify';
import provenance from '../../src/provenance/fastify.js';
import { buildRequest, fixtureKeys, fixtureTopology, SCANNER_CERT, SERVICE } from './support/fixture.js';
import { buildTestApp, send, type TestApp } from './support/app.js';

const topology = fixtureTopology();
const keys = fixtureKeys(topology);
const scannerKey = hmacKeyFromSecret(createHash('sha256').update('scanner-01 dsse key').digest());
const strangerKey = hmacKeyFromSecret(createHash('sha256').update('someone else').digest());

async function envelopeBody(intent: Partial<TraversalIntent> = {}, key = scannerKey): Promise<Buffer> {
  const statement = buildScanArtifactStatement({
    artifact: { name: 'sbom.json', sha256: 'ab'.repeat(32) },
    intent: {
      scanId: 'scan-0001',
      topology: 'demo',
      edgeHop: 'gw-edge',
      clientCertSha256: SCANNER_CERT,
      nonce: '00112233445566778899aabbccddeeff',
      issuedAt: '2026-11-28T11:59:58Z',
      ...intent,
    },
  });
  const envelope = await signEnvelope(IN_TOTO_PAYLOAD_TYPE, serializeStatement(statement), [createSigner(key, 'scanner-01-hmac')]);
  return Buffer.from(serializeEnvelope(envelope));
}

async function post(app: TestApp, body: Buffer) {
  const built = buildRequest(topology, keys, { url: '/api/v1/envelope', body, contentType: 'application/vnd.in-toto+json' });
  return send(app.app, built);
}

function assertProblem(res: { statusCode: number; body: string }, code: string, status: number): void {
  assert.equal((JSON.parse(res.body) as { code: string }).code, code, res.body);
  assert.equal(res.statusCode, status);
}

describe('envelope routes', () => {
  let t: TestApp;
  before(async () => {
    t = await buildTestApp({ envelope: { scannerKeys: new Map([['scanner-01', [createVerifier(scannerKey, 'scanner-01-hmac')]]]) } });
  });
  after(async () => {
    await t.app.close();
  });

  it('accept an envelope bound to the scan and the client certificate, with the verified intent', async () => {
    const res = await post(t, await envelopeBody());
    assert.equal(res.statusCode, 200, res.body);
    const { provenance } = res.json() as { provenance: { envelope: { intent: TraversalIntent; payloadType: string; accepted: unknown[] } } };
    assert.equal(provenance.envelope.intent.clientCertSha256, SCANNER_CERT);
    assert.equal(provenance.envelope.payloadType, IN_TOTO_PAYLOAD_TYPE);
    assert.equal(provenance.envelope.accepted.length, 1);
  });
  it('hand the route the envelope verified and the bytes as received, without parsing the body again', async () => {
    const body = await envelopeBody();
    const res = await post(t, body);
    assert.equal(res.statusCode, 200, res.body);
    const answer = res.json() as { bodyParsed: boolean; rawBodyBytes: number; provenance: { envelope: { payloadType: string } } };
    assert.equal(answer.bodyParsed, false);
    assert.equal(answer.rawBodyBytes, body.length);
    assert.equal(answer.provenance.envelope.payloadType, IN_TOTO_PAYLOAD_TYPE);
  });
  it('reject an intent for another scan id as binding-mismatch', async () => {
    assertProblem(await post(t, await envelopeBody({ scanId: 'scan-0002' })), 'binding-mismatch', 422);
  });
  it('reject an intent naming another client certificate as binding-mismatch', async () => {
    assertProblem(await post(t, await envelopeBody({ clientCertSha256: `sha256:${'0'.repeat(64)}` })), 'binding-mismatch', 422);
  });
  it('reject an intent naming another edge or topology as binding-mismatch', async () => {
    assertProblem(await post(t, await envelopeBody({ edgeHop: 'gw-mid1' })), 'binding-mismatch', 422);
    assertProblem(await post(t, await envelopeBody({ topology: 'other' })), 'binding-mismatch', 422);
  });
  it('reject an envelope signed by an untrusted key as envelope-invalid', async () => {
    assertProblem(await post(t, await envelopeBody({}, strangerKey)), 'envelope-invalid', 401);
  });
  it('reject a JSON body that is no envelope as envelope-invalid', async () => {
    assertProblem(await post(t, Buffer.from('{"payloadType":1}')), 'envelope-invalid', 401);
  });
  it('reject an envelope with a modified payload as envelope-invalid', async () => {
    const body = JSON.parse((await envelopeBody()).toString()) as { payload: string };
    const statement = JSON.parse(Buffer.from(body.payload, 'base64').toString()) as { subject: { digest: { sha256: string } }[] };
    statement.subject[0]!.digest.sha256 = 'cd'.repeat(32);
    body.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
    assertProblem(await post(t, Buffer.from(JSON.stringify(body))), 'envelope-invalid', 401);
  });
  it('refuse at registration a route that asks for an envelope when the plugin has no envelope keys', async () => {
    const app = Fastify();
    await app.register(provenance, { topology, serviceId: SERVICE, hopKeys: keys });
    assert.throws(() => app.post('/x', { config: { provenance: { envelope: true } } }, async () => 'x'), /no envelope option/);
    await app.close();
  });
});
