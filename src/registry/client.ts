/**
 * The scanner's OCI registry client (docs/scanner.md#registry): pulls manifests and blobs by tag
 * and by digest, verifying every digest, and pushes blobs and manifests — always to the edge, so
 * every request crosses the chain and the registry's guard (docs/services.md#the-guard). Each
 * request carries the worker's provenance headers as its locker requests do: `X-Stella-Scan-Id`,
 * and `Content-Digest` (RFC 9530) over any body, which the guard checks before the registry sees a
 * byte of it.
 */
import { request, type Dispatcher } from 'undici';
import { WIRE_HEADERS } from '../conventions/index.js';
import { parseRetryAfter } from '../scanner/backoff.js';
import { ScannerError } from '../scanner/errors.js';
import { classifyFailure, classifyStatus, contentDigest, DEFAULT_REQUEST_TIMEOUT_MS, hostHeader, type EdgeEndpoint } from '../scanner/http.js';
import { RegistryError } from './errors.js';
import { DIGEST_PATTERN, MANIFEST_MEDIA_TYPES, REPOSITORY_PATTERN, TAG_PATTERN, digestOf, parseImageManifest, type ImageManifest } from './oci.js';

/** Largest manifest the client reads (the OCI distribution spec asks registries to take 4 MiB). */
export const DEFAULT_MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Largest blob the client holds in memory. */
export const DEFAULT_MAX_BLOB_BYTES = 256 * 1024 * 1024;

/** Options of {@link RegistryClient}. */
export interface RegistryClientOptions {
  /** Presents the scanner's certificate to the edge (as the worker's locker requests do). */
  dispatcher: Dispatcher;
  endpoint: EdgeEndpoint;
  /** `X-Stella-Scan-Id` of every request. */
  scanId: string;
  timeoutMs?: number;
  maxManifestBytes?: number;
  maxBlobBytes?: number;
  /** Clock in ms, for Retry-After; default `Date.now`. */
  now?: () => number;
}

/** A manifest as pulled: its exact bytes and their verified digest. */
export interface PulledManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * A registry reached through the chain.
 *
 * @example
 * const client = new RegistryClient({ dispatcher, endpoint, scanId: 'scan-42' });
 * const { manifest, digest } = await client.pullImageManifest('team/app', 'v1');
 * for (const layer of manifest.layers) await client.fetchBlob('team/app', layer.digest, layer.size);
 */
export class RegistryClient {
  readonly #options: RegistryClientOptions;

  constructor(options: RegistryClientOptions) {
    if (!options?.dispatcher || !options.endpoint) throw new TypeError('RegistryClient: dispatcher and endpoint are required');
    this.#options = options;
  }

  /**
   * GET a manifest by tag or digest. By digest, the bytes must hash to it; by tag, they must hash
   * to the `Docker-Content-Digest` the registry announced, when it did.
   *
   * @throws RegistryError `REGISTRY_DIGEST_MISMATCH`; ScannerError for refusals (404: `status` 404).
   */
  async pullManifest(repository: string, reference: string): Promise<PulledManifest> {
    const path = `${repoPath(repository)}/manifests/${referenceOf(reference)}`;
    const answer = await this.#send('GET', path, { accept: MANIFEST_MEDIA_TYPES.join(', '), maxBytes: this.#options.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES });
    const digest = digestOf(answer.body);
    const announced = single(answer.headers['docker-content-digest']);
    if (DIGEST_PATTERN.test(reference) && digest !== reference) throw new RegistryError('REGISTRY_DIGEST_MISMATCH', `manifest ${repository}@${reference} hashes to ${digest}`);
    if (announced !== undefined && announced !== digest) throw new RegistryError('REGISTRY_DIGEST_MISMATCH', `manifest ${repository}:${reference} hashes to ${digest}, the registry announced ${announced}`);
    const mediaType = single(answer.headers['content-type'])?.split(';')[0]?.trim() ?? '';
    return { digest, mediaType, bytes: answer.body };
  }

  /** {@link pullManifest}, then its shape as an image manifest. @throws RegistryError `REGISTRY_MANIFEST_INVALID`. */
  async pullImageManifest(repository: string, reference: string): Promise<PulledManifest & { manifest: ImageManifest }> {
    const pulled = await this.pullManifest(repository, reference);
    const manifest = parseImageManifest(pulled.bytes);
    if (typeof manifest === 'string') throw new RegistryError('REGISTRY_MANIFEST_INVALID', `${repository}@${pulled.digest}: ${manifest}`);
    return { ...pulled, manifest };
  }

  /**
   * GET a blob and verify it hashes to its digest (and has the size its descriptor says, when given).
   * @throws RegistryError `REGISTRY_DIGEST_MISMATCH` or `REGISTRY_TOO_LARGE`.
   */
  async fetchBlob(repository: string, digest: string, expectedSize?: number): Promise<Buffer> {
    const limit = expectedSize ?? this.#options.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES;
    const answer = await this.#send('GET', `${repoPath(repository)}/blobs/${digestRef(digest)}`, { maxBytes: limit });
    if (expectedSize !== undefined && answer.body.length !== expectedSize) throw new RegistryError('REGISTRY_DIGEST_MISMATCH', `blob ${digest} has ${answer.body.length} bytes, its descriptor says ${expectedSize}`);
    const actual = digestOf(answer.body);
    if (actual !== digest) throw new RegistryError('REGISTRY_DIGEST_MISMATCH', `blob ${repository}@${digest} hashes to ${actual}`);
    return answer.body;
  }

  /** HEAD a blob: true when the registry has it. */
  async hasBlob(repository: string, digest: string): Promise<boolean> {
    try {
      await this.#send('HEAD', `${repoPath(repository)}/blobs/${digestRef(digest)}`, {});
      return true;
    } catch (error) {
      if (error instanceof ScannerError && error.status === 404) return false;
      throw error;
    }
  }

  /**
   * Pushes a blob unless the registry has it: POST an upload, then PUT its bytes with `?digest=`
   * in one request (OCI distribution spec, "monolithic upload"). Returns the digest.
   */
  async pushBlob(repository: string, bytes: Uint8Array): Promise<string> {
    const digest = digestOf(bytes);
    if (await this.hasBlob(repository, digest)) return digest;
    const started = await this.#send('POST', `${repoPath(repository)}/blobs/uploads/`, { body: Buffer.alloc(0) });
    const location = single(started.headers.location);
    if (!location) throw new ScannerError('SCANNER_RESPONSE_MALFORMED', 'the registry started an upload without a Location');
    // The guard hands Location back as a path; whatever it is, only its path and query are used,
    // against the edge (the client never talks to anything else).
    const target = new URL(location, 'https://registry.invalid');
    target.searchParams.set('digest', digest);
    await this.#send('PUT', `${target.pathname}${target.search}`, { body: Buffer.from(bytes), contentType: 'application/octet-stream' });
    return digest;
  }

  /**
   * PUTs a manifest under a tag or its digest. Returns its digest, checked against the registry's,
   * and the `OCI-Subject` the registry answered: set only by a registry that indexed the manifest's
   * `subject` for the OCI 1.1 referrers API (docker-registry 2.8 never does).
   */
  async pushManifest(repository: string, reference: string, mediaType: string, bytes: Uint8Array): Promise<{ digest: string; ociSubject: string | null }> {
    const digest = digestOf(bytes);
    const answer = await this.#send('PUT', `${repoPath(repository)}/manifests/${referenceOf(reference)}`, { body: Buffer.from(bytes), contentType: mediaType });
    const announced = single(answer.headers['docker-content-digest']);
    if (announced !== undefined && announced !== digest) throw new RegistryError('REGISTRY_DIGEST_MISMATCH', `the registry stored the manifest as ${announced}, the client sent ${digest}`);
    return { digest, ociSubject: single(answer.headers['oci-subject']) ?? null };
  }

  /** The tags of a repository. */
  async listTags(repository: string): Promise<string[]> {
    const answer = await this.#send('GET', `${repoPath(repository)}/tags/list`, { maxBytes: this.#options.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES });
    const parsed = JSON.parse(answer.body.toString('utf8')) as { tags?: unknown };
    return Array.isArray(parsed.tags) ? parsed.tags.filter((t): t is string => typeof t === 'string') : [];
  }

  async #send(method: 'GET' | 'HEAD' | 'POST' | 'PUT', path: string, init: { body?: Buffer; contentType?: string; accept?: string; maxBytes?: number }): Promise<Answer> {
    const { dispatcher, endpoint, scanId } = this.#options;
    const timeoutMs = this.#options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const headers: Record<string, string> = { host: hostHeader(endpoint), [WIRE_HEADERS.scanId]: scanId };
    if (init.accept) headers.accept = init.accept;
    if (init.body) {
      // docs/provenance.md#2-headers: the edge binds this digest into record 1; the guard checks it.
      headers[WIRE_HEADERS.contentDigest] = contentDigest(init.body);
      headers['content-type'] = init.contentType ?? 'application/octet-stream';
    }
    let status: number;
    let answerHeaders: Answer['headers'];
    let body: Buffer;
    try {
      const response = await request(new URL(path, endpoint.origin), { method, headers, body: init.body ?? null, dispatcher, signal: AbortSignal.timeout(timeoutMs) });
      status = response.statusCode;
      answerHeaders = response.headers;
      body = await readLimited(response.body, init.maxBytes ?? DEFAULT_MAX_MANIFEST_BYTES);
    } catch (error) {
      if (error instanceof RegistryError) throw error;
      throw classifyFailure(error);
    }
    if (status >= 200 && status < 300) return { status, headers: answerHeaders, body };
    let problem: unknown;
    try {
      problem = JSON.parse(body.toString('utf8'));
    } catch {
      // Gateways answer errors in HTML; the status alone then decides.
    }
    throw classifyStatus(status, problem, parseRetryAfter(single(answerHeaders['retry-after']), (this.#options.now ?? Date.now)()));
  }
}

function repoPath(repository: string): string {
  if (!REPOSITORY_PATTERN.test(repository)) throw new TypeError(`not an OCI repository name: ${JSON.stringify(repository)}`);
  return `/v2/${repository}`;
}

function referenceOf(reference: string): string {
  if (!TAG_PATTERN.test(reference) && !DIGEST_PATTERN.test(reference)) throw new TypeError(`not a tag or sha256 digest: ${JSON.stringify(reference)}`);
  return reference;
}

function digestRef(digest: string): string {
  if (!DIGEST_PATTERN.test(digest)) throw new TypeError(`not a sha256 digest: ${JSON.stringify(digest)}`);
  return digest;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

async function readLimited(body: AsyncIterable<Buffer | string> & { destroy?: () => void }, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > maxBytes) {
      body.destroy?.();
      throw new RegistryError('REGISTRY_TOO_LARGE', `answer larger than ${maxBytes} bytes`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}
