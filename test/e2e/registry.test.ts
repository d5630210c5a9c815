/**
 * Scanner ↔ OCI registry through the real chain (docs/services.md#the-guard): scanner → NGINX →
 * Apache+CRS → HAProxy → the guard → Debian's docker-registry. The test makes its own small image,
 * publishes it with skopeo straight to the registry, pulls it through the chain verifying every
 * digest, attaches a signed DSSE attestation under the cosign tag, and reads it back through the
 * chain and with skopeo. Bypass, forgery, replay and a body that does not match Content-Digest are
 * refused at the guard with the middleware's codes, and the registry's storage stays untouched.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseProvenanceHeader, serializeProvenanceHeader } from '../../src/provenance/codec.js';
import { PROVENANCE_PROBLEMS } from '../../src/provenance/problems.js';
import { TRAVERSAL_INTENT_PREDICATE_TYPE } from '../../src/dsse/index.js';
import { pushAttestation, readAttestations } from '../../src/registry/attest.js';
import { RegistryClient } from '../../src/registry/client.js';
import { DSSE_LAYER_MEDIA_TYPE, cosignAttestationTag } from '../../src/registry/oci.js';
import { ScannerError } from '../../src/scanner/errors.js';
import { keyFileEnvelopeFactory } from '../../src/scanner/signing.js';
import type { ResolvedHop, ResolvedService } from '../../src/topology/resolve.js';
import { EXAMPLES, startChain, type Chain } from '../support/chain.js';
import { checkEnvelopeSignature, contentDigest, fingerprintOf, problemCode, send, type Answer } from './support/client.js';
import { spliceBeforeService } from '../support/chain-splice.js';
import type { Relay, RelayedRequest } from '../support/relay.js';
import { makeTestImage, publisherCertDir, skopeoPush, skopeoRawManifest, type TestImage } from './support/oci.js';

const REPOSITORY = 'stella/hello';
const LIMITS = { maxHeaderBytes: 8192, maxHops: 8 };

let chain: Chain;
let relay: Relay;
let service: ResolvedService;
let lastHop: ResolvedHop;
let image: TestImage;
let certDir: string;

before(async () => {
  chain = await startChain(join(EXAMPLES, 'topology-registry.yaml'));
  const s = chain.topology.services[0];
  const l = s?.chain.at(-1);
  if (!s?.registry || !l) throw new TypeError('the registry topology changed');
  [service, lastHop] = [s, l];
  // Sees exactly what the guard receives (it holds the last hop's client certificate).
  relay = await spliceBeforeService(chain, service.id);
  image = await makeTestImage(join(chain.workDir, 'image'), 'v1', `hello ${randomBytes(8).toString('hex')}\n`);
  certDir = await publisherCertDir(chain.topology, join(chain.workDir, 'skopeo'));
  await skopeoPush(image, service, REPOSITORY, certDir);
});
after(async () => {
  await relay?.close();
  await chain?.close();
});

async function client(scanId: string): Promise<RegistryClient> {
  return new RegistryClient({ dispatcher: await chain.scannerAgent(), endpoint: { origin: chain.edgeUrl(), servername: chain.edgeServerName() }, scanId, timeoutMs: 15_000 });
}

/** Every file under the registry's storage folder with its size: what "nothing written" compares. */
function storageListing(): string[] {
  const root = service.registry!.rootDirectory;
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const stat = statSync(path);
      if (stat.isDirectory()) walk(path);
      else out.push(`${path.slice(root.length)} ${stat.size}`);
    }
  };
  walk(root);
  return out.sort();
}

async function directToGuard(identity: { chain: string; key: string }, recorded: Pick<RelayedRequest, 'method' | 'url' | 'headers' | 'body'>): Promise<Answer> {
  const agent = await chain.agentFor({ cert: identity.chain, key: identity.key }, service.serverName);
  return send(agent, `https://${service.listen}${recorded.url}`, { method: recorded.method as 'POST', headers: recorded.headers, ...(recorded.body.length > 0 ? { body: recorded.body } : {}) });
}

function assertRefused(answer: Answer, code: keyof typeof PROVENANCE_PROBLEMS): void {
  assert.equal(answer.status, PROVENANCE_PROBLEMS[code].status, answer.text);
  assert.equal(problemCode(answer), code, answer.text);
}

describe('the scanner pulls through the chain', () => {
  it('reads the image skopeo published, by tag and by digest, every digest verified', async () => {
    const registry = await client('scan-pull');
    const byTag = await registry.pullImageManifest(REPOSITORY, image.tag);
    assert.equal(byTag.digest, image.manifestDigest);
    assert.deepEqual(byTag.bytes, image.manifest);
    const byDigest = await registry.pullImageManifest(REPOSITORY, image.manifestDigest);
    assert.equal(byDigest.digest, image.manifestDigest);
    const [layer] = byDigest.manifest.layers;
    assert.deepEqual(await registry.fetchBlob(REPOSITORY, byDigest.manifest.config.digest, byDigest.manifest.config.size), image.config);
    assert.deepEqual(await registry.fetchBlob(REPOSITORY, layer!.digest, layer!.size), image.layer);
    assert.ok(relay.forwarded.some((r) => r.url === `/v2/${REPOSITORY}/manifests/${image.tag}` && r.headers['x-stella-scan-id'] === 'scan-pull'), 'the pull crossed the guard');
  });

  it('gets a 404 through the chain for a digest the registry does not hold', async () => {
    const registry = await client('scan-pull-unknown');
    await assert.rejects(registry.pullManifest(REPOSITORY, `sha256:${'0'.repeat(64)}`), (error: unknown) => error instanceof ScannerError && error.status === 404);
  });
});

describe('the scanner attaches its attestation through the chain', () => {
  let envelope: Buffer;
  const scanId = 'scan-attest';

  before(async () => {
    const scanner = chain.scanner();
    envelope = Buffer.from(
      await keyFileEnvelopeFactory(scanner.signing.keys)({
        artifact: { name: REPOSITORY, sha256: image.manifestDigest.slice(7) },
        intent: {
          scanId,
          topology: chain.topology.name,
          edgeHop: scanner.edge,
          clientCertSha256: await fingerprintOf(scanner.tls.cert),
          nonce: randomBytes(16).toString('hex'),
          issuedAt: new Date().toISOString(),
        },
      }),
    );
  });

  it('pushes it under the cosign tag and reads it back through the chain, its signature verified', async () => {
    const registry = await client(scanId);
    const pushed = await pushAttestation(registry, REPOSITORY, image.manifestDigest, envelope, TRAVERSAL_INTENT_PREDICATE_TYPE);
    assert.equal(pushed.tag, cosignAttestationTag(image.manifestDigest));
    // docker-registry 2.8 has no OCI 1.1 referrers API: it stores `subject` but does not index it.
    assert.equal(pushed.referrers, false);
    assert.ok((await registry.listTags(REPOSITORY)).includes(pushed.tag));
    const read = await readAttestations(await client('scan-read-back'), REPOSITORY, image.manifestDigest);
    assert.equal(read.length, 1);
    assert.deepEqual(read[0]!.envelope, envelope);
    const verified = await checkEnvelopeSignature(chain, JSON.parse(read[0]!.envelope.toString('utf8')));
    assert.equal(verified.subjectSha256, image.manifestDigest.slice(7));
    assert.equal(verified.intent.scanId, scanId);
  });

  it('is what an independent client (skopeo) reads under the tag: one DSSE layer, the image as its subject', async () => {
    const raw = JSON.parse(await skopeoRawManifest(service, REPOSITORY, cosignAttestationTag(image.manifestDigest), certDir)) as { layers: { mediaType: string }[]; subject?: { digest: string; size: number } };
    assert.deepEqual(raw.layers.map((l) => l.mediaType), [DSSE_LAYER_MEDIA_TYPE]);
    assert.deepEqual(raw.subject && [raw.subject.digest, raw.subject.size], [image.manifestDigest, image.manifest.length]);
  });
});

describe('the WAF admits the registry routes and nothing more', () => {
  const edge = async (method: 'PUT' | 'PATCH', path: string, contentType: string): Promise<Answer> => {
    const body = Buffer.from('x');
    return send(await chain.scannerAgent(), `${chain.edgeUrl()}${path}`, {
      method: method as 'POST',
      headers: { host: `${chain.edgeServerName()}:${new URL(chain.edgeUrl()).port}`, 'x-stella-scan-id': 'scan-waf', 'content-type': contentType, 'content-digest': contentDigest(body) },
      body,
    });
  };
  const wafRefused = (answer: Answer): void => {
    assert.equal(answer.status, 403, answer.text);
    assert.match(answer.text, /<title>403 Forbidden<\/title>/, 'refused by Apache, not by the guard');
  };

  it('refuses PUT on a registry route that is neither an upload nor a manifest', async () => {
    wafRefused(await edge('PUT', `/v2/${REPOSITORY}/tags/list`, 'application/octet-stream'));
  });

  it('refuses a manifest route body of a media type that is not a manifest', async () => {
    wafRefused(await edge('PUT', `/v2/${REPOSITORY}/manifests/v9`, 'text/x-shellscript'));
  });

  it('refuses an upload route body that is not application/octet-stream', async () => {
    wafRefused(await edge('PATCH', `/v2/${REPOSITORY}/blobs/uploads/abc`, 'application/x-php'));
  });
});

describe('the guard refuses, and the registry stores nothing', () => {
  let listing: string[];
  let recordedGet: RelayedRequest;

  before(async () => {
    await (await client('scan-recorded')).pullManifest(REPOSITORY, image.tag);
    const found = [...relay.forwarded].reverse().find((r) => r.method === 'GET' && r.headers['x-stella-scan-id'] === 'scan-recorded');
    if (!found) throw new Error('the relay recorded no GET');
    recordedGet = found;
    listing = storageListing();
  });

  it('a bypass: a direct upload with the scanner’s certificate is 403 untrusted-peer', async () => {
    const body = Buffer.from('bypass');
    const answer = await directToGuard(
      { chain: chain.scanner().tls.chain, key: chain.scanner().tls.key },
      { method: 'POST', url: `/v2/${REPOSITORY}/blobs/uploads/`, headers: { 'x-stella-scan-id': 'scan-bypass', 'content-digest': contentDigest(body) }, body },
    );
    assertRefused(answer, 'untrusted-peer');
    assert.deepEqual(storageListing(), listing);
  });

  it('a bypass: a gateway that is not the last hop (the edge’s certificate) is 403 untrusted-peer', async () => {
    const edge = chain.topology.hops[0]!;
    const answer = await directToGuard({ chain: edge.upstreamTls.chain, key: edge.upstreamTls.key }, { ...recordedGet, headers: { ...recordedGet.headers } });
    assertRefused(answer, 'untrusted-peer');
  });

  it('a forged record: one MAC byte flipped is 401 provenance-tampered', async () => {
    const records = parseProvenanceHeader(recordedGet.headers['x-stella-provenance'] ?? '', LIMITS);
    const last = records.at(-1)!;
    const mac = Uint8Array.from(last.mac);
    mac[3] = (mac[3] ?? 0) ^ 0x01;
    const forged = serializeProvenanceHeader([...records.slice(0, -1), { ...last, mac }]);
    const answer = await directToGuard(lastHop.upstreamTls, { ...recordedGet, headers: { ...recordedGet.headers, 'x-stella-provenance': forged } });
    assertRefused(answer, 'provenance-tampered');
  });

  it('a replay: the exact request the guard accepted, sent again with the last hop’s certificate, is 409 provenance-replayed', async () => {
    const answer = await directToGuard(lastHop.upstreamTls, recordedGet);
    assertRefused(answer, 'provenance-replayed');
  });

  it('a body that does not match Content-Digest is 422 binding-mismatch, and no byte of it is stored', async () => {
    const registry = await client('scan-mismatch');
    // A real upload session through the chain, then a PUT whose digest header names other bytes.
    const agent = await chain.scannerAgent();
    const started = await send(agent, `${chain.edgeUrl()}/v2/${REPOSITORY}/blobs/uploads/`, {
      method: 'POST',
      headers: { host: `${chain.edgeServerName()}:${new URL(chain.edgeUrl()).port}`, 'x-stella-scan-id': 'scan-mismatch', 'content-digest': contentDigest(Buffer.alloc(0)) },
      body: Buffer.alloc(0),
    });
    assert.equal(started.status, 202, started.text);
    listing = storageListing(); // the session itself is the registry's own bookkeeping
    const location = new URL(String(started.headers.location), 'https://x.invalid');
    const body = randomBytes(4096);
    location.searchParams.set('digest', `sha256:${'1'.repeat(64)}`);
    const answer = await send(agent, `${chain.edgeUrl()}${location.pathname}${location.search}`, {
      method: 'PUT' as 'POST',
      headers: { host: `${chain.edgeServerName()}:${new URL(chain.edgeUrl()).port}`, 'x-stella-scan-id': 'scan-mismatch', 'content-type': 'application/octet-stream', 'content-digest': contentDigest(Buffer.from('other bytes')) },
      body,
    });
    assertRefused(answer, 'binding-mismatch');
    assert.deepEqual(storageListing(), listing);
    assert.equal(await registry.hasBlob(REPOSITORY, `sha256:${'1'.repeat(64)}`), false);
  });
});
