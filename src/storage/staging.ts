/**
 * Streaming artifact ingest (docs/services.md#artifacts, "Streaming into the store"), the part both
 * stores share: the bytes of an upload are hashed and cut into {@link ARTIFACT_CHUNK_BYTES} chunk
 * rows as they arrive, written under a fresh upload id that no reader can reach, and made the
 * artifact's only by {@link ArtifactStaging.commit}, in one transaction with the scan's reference.
 * A refused or abandoned upload is dropped; one cut short by a crash stays unreachable and is
 * deleted once it is older than any request may last ({@link STALE_UPLOAD_MS}).
 */
import { createHash, randomBytes } from 'node:crypto';
import { ARTIFACT_CHUNK_BYTES, isSha256Hex, type NewArtifact, type PutArtifactResult } from './types.js';

/**
 * Age after which an upload that was neither committed nor dropped is garbage: longer than the
 * innermost request timeout of the chain (docs/gateways/README.md#timeouts), so no request can
 * still be writing to it.
 */
export const STALE_UPLOAD_MS = 15 * 60 * 1000;

/** What the scan's reference records; the bytes are the ones staged. */
export type ArtifactReference = Omit<NewArtifact, 'bytes'>;

/** The measured upload: what the binding checks compare (docs/provenance.md#3-the-mac, Content-Digest). */
export interface StagedBytes {
  readonly length: number;
  readonly sha256: Buffer;
}

/** An upload being written. Methods are called one at a time, in order (the caller awaits each). */
export interface ArtifactStaging {
  /** Takes the next bytes, any size; a full chunk is written before this resolves (back-pressure). */
  write(bytes: Buffer): Promise<void>;
  /** Bytes taken so far. */
  readonly length: number;
  /** Writes the last chunk; the length and SHA-256 of everything written. */
  finish(): Promise<StagedBytes>;
  /**
   * Makes the staged bytes the artifact `ref.sha256` (or drops them when one copy is stored
   * already) and writes the scan's reference, in one transaction.
   *
   * @throws TypeError when called before {@link finish}, or when the bytes do not hash to `ref.sha256`
   * (the caller checks the binding first); the upload is dropped then.
   */
  commit(ref: ArtifactReference): Promise<PutArtifactResult>;
  /** Deletes what was staged. Safe to call twice, and after commit (then it does nothing). */
  discard(): Promise<void>;
}

/** What a store does for {@link createStaging}; each call is its own durable step. */
export interface StagingBackend {
  /** The upload id, registered with its start time before the first chunk. */
  readonly uploadId: string;
  /** False when the digest the upload claims is stored already: its chunks need not be written. */
  readonly writeChunks: boolean;
  /** True when `writeChunk` has copied the bytes once it resolved (a synchronous driver): one buffer then serves every chunk. */
  readonly copiesChunk: boolean;
  writeChunk(idx: number, bytes: Buffer): Promise<void>;
  /** The commit transaction (see {@link ArtifactStaging.commit}); `size` and `chunks` as staged. */
  promote(ref: ArtifactReference, staged: { size: number; chunks: number }): Promise<PutArtifactResult>;
  /** Deletes the upload's chunks and its registration. */
  drop(): Promise<void>;
}

/** A fresh upload id: never a SHA-256 hex, which names the chunks of artifacts stored before uploads were staged. */
export function newUploadId(): string {
  return `u-${randomBytes(16).toString('hex')}`;
}

/** The staging around a store's backend. */
export function createStaging(backend: StagingBackend): ArtifactStaging {
  const hash = createHash('sha256');
  let pending = Buffer.allocUnsafe(ARTIFACT_CHUNK_BYTES);
  let filled = 0;
  let idx = 0;
  let length = 0;
  let staged: StagedBytes | null = null;
  let state: 'open' | 'finished' | 'committed' | 'dropped' = 'open';

  const flush = async (): Promise<void> => {
    if (filled === 0) return;
    const chunk = pending.subarray(0, filled);
    // Otherwise a new buffer per chunk: an asynchronous driver may still hold the last one.
    if (!backend.copiesChunk) pending = Buffer.allocUnsafe(ARTIFACT_CHUNK_BYTES);
    filled = 0;
    if (backend.writeChunks) await backend.writeChunk(idx, chunk);
    idx++;
  };

  return {
    get length() {
      return length;
    },
    async write(bytes) {
      if (state !== 'open') throw new TypeError(`ArtifactStaging.write: the upload is ${state}`);
      hash.update(bytes);
      length += bytes.length;
      let offset = 0;
      while (offset < bytes.length) {
        const n = Math.min(ARTIFACT_CHUNK_BYTES - filled, bytes.length - offset);
        bytes.copy(pending, filled, offset, offset + n);
        filled += n;
        offset += n;
        if (filled === ARTIFACT_CHUNK_BYTES) await flush();
      }
    },
    async finish() {
      if (state !== 'open') throw new TypeError(`ArtifactStaging.finish: the upload is ${state}`);
      await flush();
      state = 'finished';
      staged = { length, sha256: hash.digest() };
      return staged;
    },
    async commit(ref) {
      if (state !== 'finished' || !staged) throw new TypeError(`ArtifactStaging.commit: the upload is ${state}, not finished`);
      if (!isSha256Hex(ref.sha256) || staged.sha256.toString('hex') !== ref.sha256) {
        await this.discard();
        throw new TypeError(`ArtifactStaging.commit: the bytes hash to ${staged.sha256.toString('hex')}, not ${ref.sha256}`);
      }
      const result = await backend.promote(ref, { size: staged.length, chunks: idx });
      state = 'committed';
      return result;
    },
    async discard() {
      if (state === 'committed' || state === 'dropped') return;
      state = 'dropped';
      await backend.drop();
    },
  };
}

/** `putArtifact` of a whole buffer, through the same staging as a streamed upload. */
export async function putArtifactByStaging(staging: ArtifactStaging, artifact: NewArtifact): Promise<PutArtifactResult> {
  try {
    await staging.write(Buffer.from(artifact.bytes.buffer, artifact.bytes.byteOffset, artifact.bytes.byteLength));
    await staging.finish();
  } catch (error) {
    await staging.discard().catch(() => undefined);
    throw error;
  }
  const { bytes: _bytes, ...ref } = artifact;
  return staging.commit(ref);
}
