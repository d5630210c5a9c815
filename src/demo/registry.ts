/**
 * The demo's registry scene (`stella-gateway demo --topology examples/topology-registry.yaml`):
 * through the chain and the guard (docs/services.md#the-guard), the scanner publishes a small OCI
 * artifact (the example SBOM as its one layer), pulls it back by tag and by digest with every digest
 * verified, attaches its signed DSSE attestation under the cosign tag, and reads it back, verified
 * with its own keys.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IN_TOTO_PAYLOAD_TYPE, TRAVERSAL_INTENT_PREDICATE_TYPE, createVerifier, loadKeyFile, parseEnvelope, parseStatement, verifyEnvelope } from '../dsse/index.js';
import { pushAttestation, readAttestations } from '../registry/attest.js';
import { RegistryClient } from '../registry/client.js';
import { OCI_CONFIG_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE, descriptorOf, type ImageManifest } from '../registry/oci.js';
import { deliveryOptionsFor } from '../scanner/config.js';
import type { ResolvedService, ResolvedTopology } from '../topology/resolve.js';

/** The repository and tag the demo publishes. */
export const DEMO_REPOSITORY = 'stella/demo-sbom';
const DEMO_TAG = 'v1';
/** CycloneDX JSON, the media type of the example SBOM layer. */
const SBOM_MEDIA_TYPE = 'application/vnd.cyclonedx+json';

/** What the scene did, for `--json` and tests. */
export interface RegistryOutcome {
  readonly service: string;
  readonly repository: string;
  readonly imageDigest: string;
  readonly attestationTag: string;
  /** Key ids that verified the attestation read back through the chain. */
  readonly verifiedKeyids: string[];
}

/** Runs the scene against the first `oci-registry` service. */
export async function registryScene(topology: ResolvedTopology, service: ResolvedService, artifactsDir: string, print: (t: string) => void): Promise<RegistryOutcome> {
  const scanner = topology.scanners.find((s) => service.chain[0]?.id === s.edge) ?? topology.scanners[0];
  if (!scanner) throw new TypeError('the topology has no scanner');
  const setup = await deliveryOptionsFor(topology, scanner.id);
  try {
    const material = setup.credentials.current();
    const scanId = `demo-registry-${randomBytes(3).toString('hex')}`;
    const client = new RegistryClient({ dispatcher: setup.pool.agentFor(material), endpoint: setup.endpoint, scanId, ...(setup.timeoutMs ? { timeoutMs: setup.timeoutMs } : {}) });
    print(`\nScanner ${scanner.id} talks to ${service.id} (an OCI registry behind its guard) through the chain, scan ${scanId}:`);

    const sbom = await readFile(join(artifactsDir, 'sbom.cdx.json'));
    const config = Buffer.from('{}');
    await client.pushBlob(DEMO_REPOSITORY, sbom);
    await client.pushBlob(DEMO_REPOSITORY, config);
    const manifest: ImageManifest = { schemaVersion: 2, mediaType: OCI_MANIFEST_MEDIA_TYPE, config: descriptorOf(OCI_CONFIG_MEDIA_TYPE, config), layers: [descriptorOf(SBOM_MEDIA_TYPE, sbom)] };
    const { digest: imageDigest } = await client.pushManifest(DEMO_REPOSITORY, DEMO_TAG, OCI_MANIFEST_MEDIA_TYPE, Buffer.from(JSON.stringify(manifest)));
    print(`  pushed ${DEMO_REPOSITORY}:${DEMO_TAG} → ${imageDigest} (blobs: POST + PUT, each body bound by Content-Digest)`);

    const byTag = await client.pullImageManifest(DEMO_REPOSITORY, DEMO_TAG);
    const byDigest = await client.pullImageManifest(DEMO_REPOSITORY, imageDigest);
    const layer = await client.fetchBlob(DEMO_REPOSITORY, byDigest.manifest.layers[0]!.digest, byDigest.manifest.layers[0]!.size);
    print(`  pulled by tag (${byTag.digest === imageDigest ? 'same digest' : 'DIFFERENT digest'}), by digest, and the ${layer.length}-byte layer: every digest verified`);

    const envelope = await setup.createEnvelope({
      artifact: { name: DEMO_REPOSITORY, sha256: imageDigest.slice('sha256:'.length) },
      intent: { scanId, topology: topology.name, edgeHop: scanner.edge, clientCertSha256: material.fingerprint, nonce: randomBytes(16).toString('hex'), issuedAt: new Date().toISOString() },
    });
    const pushed = await pushAttestation(client, DEMO_REPOSITORY, imageDigest, envelope, TRAVERSAL_INTENT_PREDICATE_TYPE);
    print(`  attached its DSSE attestation as ${DEMO_REPOSITORY}:${pushed.tag} (layer ${pushed.layer.mediaType}; ${pushed.referrers ? 'also indexed by the referrers API' : 'this registry has no referrers API: the cosign tag is how it is found'})`);

    const [read] = await readAttestations(client, DEMO_REPOSITORY, imageDigest);
    if (!read) throw new Error('the attestation was not read back');
    const verifiers = await Promise.all(scanner.signing.keys.map(async (k) => createVerifier(await loadKeyFile(k.publicFile ?? k.file), k.kid)));
    const verified = await verifyEnvelope(parseEnvelope(read.envelope.toString('utf8')), { payloadType: IN_TOTO_PAYLOAD_TYPE, verifiers });
    const subject = parseStatement(verified.payload).subject[0]?.digest.sha256;
    if (`sha256:${subject}` !== imageDigest) throw new Error(`the attestation read back names ${subject}, not ${imageDigest}`);
    const verifiedKeyids = verified.accepted.map((a) => a.keyid);
    print(`  read it back through the chain: signature verified by ${verifiedKeyids.join(', ')}, subject ${imageDigest}`);
    return { service: service.id, repository: DEMO_REPOSITORY, imageDigest, attestationTag: pushed.tag, verifiedKeyids };
  } finally {
    await setup.close();
  }
}
