/**
 * Attestations attached to an image in a registry, the way cosign attaches them
 * (docs/scanner.md#registry): an OCI image manifest tagged `sha256-<image hex>.att` whose layers
 * are DSSE envelopes (`application/vnd.dsse.envelope.v1+json`). docker-registry 2.8 has no OCI 1.1
 * referrers API, so the tag scheme is the one form it can hold; tools that read cosign's layout
 * (cosign itself, policy controllers) find the attestations there. The same manifest carries the
 * image as its OCI 1.1 `subject`, so a registry that has the referrers API lists it there too.
 */
import type { RegistryClient } from './client.js';
import { ScannerError } from '../scanner/errors.js';
import { DSSE_LAYER_MEDIA_TYPE, OCI_CONFIG_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE, cosignAttestationTag, descriptorOf, type Descriptor, type ImageManifest } from './oci.js';

/** Annotation cosign puts on an attestation layer: the in-toto predicate type. */
export const PREDICATE_TYPE_ANNOTATION = 'predicateType';

/** What {@link pushAttestation} attached. */
export interface PushedAttestation {
  /** `sha256-<hex>.att`. */
  tag: string;
  /** Digest of the attestation manifest now under the tag. */
  manifestDigest: string;
  /** The envelope's layer. */
  layer: Descriptor;
  /**
   * True when the registry also indexed the manifest for the OCI 1.1 referrers API (it answered
   * `OCI-Subject`); false on docker-registry 2.8, where the tag is the only way to find it.
   */
  referrers: boolean;
}

/**
 * Attaches a DSSE envelope to an image digest: pushes the envelope as a blob and (re)writes the
 * `.att` manifest with it as a layer, keeping the layers already there (a second scanner's or an
 * earlier scan's attestation is not lost; the same envelope twice is one layer).
 *
 * @example
 * const envelope = await keyFileEnvelopeFactory(scanner.signing.keys)({ artifact: { name: 'team/app', sha256: hex }, intent });
 * await pushAttestation(client, 'team/app', imageDigest, envelope, TRAVERSAL_INTENT_PREDICATE_TYPE);
 */
export async function pushAttestation(client: RegistryClient, repository: string, imageDigest: string, envelope: Uint8Array, predicateType: string): Promise<PushedAttestation> {
  const tag = cosignAttestationTag(imageDigest);
  // The image must be there, and its descriptor becomes the OCI 1.1 `subject`.
  const image = await client.pullManifest(repository, imageDigest);
  const existing = await attestationManifest(client, repository, imageDigest);
  const layer = descriptorOf(DSSE_LAYER_MEDIA_TYPE, envelope, { [PREDICATE_TYPE_ANNOTATION]: predicateType });
  await client.pushBlob(repository, envelope);
  const layers = [...(existing?.layers ?? []).filter((l) => l.digest !== layer.digest), layer];
  // The config lists the layers as its rootfs, as cosign's does; its bytes are deterministic.
  const config = Buffer.from(JSON.stringify({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }));
  await client.pushBlob(repository, config);
  // One manifest for both forms: the cosign tag names it, and `subject` lets a registry with the
  // referrers API list it under the image (docker-registry 2.8 stores the field and ignores it).
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST_MEDIA_TYPE,
    config: descriptorOf(OCI_CONFIG_MEDIA_TYPE, config),
    layers,
    subject: { mediaType: image.mediaType || OCI_MANIFEST_MEDIA_TYPE, digest: image.digest, size: image.bytes.length },
  };
  const pushed = await client.pushManifest(repository, tag, OCI_MANIFEST_MEDIA_TYPE, Buffer.from(JSON.stringify(manifest)));
  return { tag, manifestDigest: pushed.digest, layer, referrers: pushed.ociSubject === imageDigest };
}

/**
 * Reads back the envelopes attached to an image digest, each verified against its layer digest;
 * an empty list when there is no `.att` tag. The caller verifies the envelopes' signatures.
 */
export async function readAttestations(client: RegistryClient, repository: string, imageDigest: string): Promise<{ layer: Descriptor; envelope: Buffer }[]> {
  const manifest = await attestationManifest(client, repository, imageDigest);
  if (!manifest) return [];
  const out: { layer: Descriptor; envelope: Buffer }[] = [];
  for (const layer of manifest.layers) {
    if (layer.mediaType !== DSSE_LAYER_MEDIA_TYPE) continue;
    out.push({ layer, envelope: await client.fetchBlob(repository, layer.digest, layer.size) });
  }
  return out;
}

async function attestationManifest(client: RegistryClient, repository: string, imageDigest: string): Promise<ImageManifest | null> {
  try {
    return (await client.pullImageManifest(repository, cosignAttestationTag(imageDigest))).manifest;
  } catch (error) {
    if (error instanceof ScannerError && error.status === 404) return null;
    throw error;
  }
}
