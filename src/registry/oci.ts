/**
 * The OCI facts the scanner's registry client relies on (OCI distribution and image specs, the
 * cosign tag scheme; docs/scanner.md#registry): names, media types, digests. Pure.
 */
import { createHash } from 'node:crypto';

/** An OCI image manifest. */
export const OCI_MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
/** An OCI image index (multi-platform). */
export const OCI_INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';
/** Docker's v2 manifest, still what many registries hold. */
export const DOCKER_MANIFEST_MEDIA_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';
/** An OCI image config. */
export const OCI_CONFIG_MEDIA_TYPE = 'application/vnd.oci.image.config.v1+json';
/** A DSSE envelope as a layer: how cosign attaches attestations. */
export const DSSE_LAYER_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
/** The manifest media types the client asks for and accepts. */
export const MANIFEST_MEDIA_TYPES = [OCI_MANIFEST_MEDIA_TYPE, OCI_INDEX_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE] as const;

/** A repository name (OCI distribution spec, "pulling manifests"). */
export const REPOSITORY_PATTERN = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
/** A tag (OCI distribution spec). */
export const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
/** The only digest algorithm the client produces and verifies. */
export const DIGEST_PATTERN = /^sha256:[a-f0-9]{64}$/;

/** A content descriptor (OCI image spec). */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** The fields of an image manifest the client reads. */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  /** OCI 1.1: the manifest this one refers to; registries with the referrers API index it. */
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** `sha256:<hex>` of bytes. */
export function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/**
 * The cosign tag an image's attestations live under: `sha256-<hex>.att`. Registries without the
 * OCI 1.1 referrers API (docker-registry 2.8) can hold it, and cosign reads it.
 *
 * @example
 * cosignAttestationTag('sha256:ab…'); // 'sha256-ab….att'
 */
export function cosignAttestationTag(imageDigest: string): string {
  if (!DIGEST_PATTERN.test(imageDigest)) throw new TypeError(`not a sha256 digest: ${imageDigest}`);
  return `${imageDigest.replace(':', '-')}.att`;
}

/** A descriptor for bytes. */
export function descriptorOf(mediaType: string, bytes: Uint8Array, annotations?: Record<string, string>): Descriptor {
  return { mediaType, digest: digestOf(bytes), size: bytes.length, ...(annotations ? { annotations } : {}) };
}

/**
 * Reads an image manifest's shape, or returns the problem. Index manifests are not image
 * manifests: the caller picks a platform's manifest from an index first.
 */
export function parseImageManifest(bytes: Uint8Array): ImageManifest | string {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return 'the manifest is not JSON';
  }
  if (typeof value !== 'object' || value === null) return 'the manifest is not an object';
  const m = value as Record<string, unknown>;
  if (m.schemaVersion !== 2) return 'schemaVersion is not 2';
  if (!isDescriptor(m.config)) return 'config is not a descriptor';
  if (!Array.isArray(m.layers) || !m.layers.every(isDescriptor)) return 'layers are not descriptors';
  return value as ImageManifest;
}

function isDescriptor(value: unknown): value is Descriptor {
  if (typeof value !== 'object' || value === null) return false;
  const d = value as Record<string, unknown>;
  return typeof d.mediaType === 'string' && typeof d.digest === 'string' && DIGEST_PATTERN.test(d.digest) && Number.isSafeInteger(d.size) && (d.size as number) >= 0;
}
