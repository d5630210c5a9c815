/**
 * The receiving side's checks (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes), in protocol order, shared by the Fastify plugin and
 * the plain Node adapter. Split in two phases so an adapter can refuse on headers alone before it
 * buffers a body:
 *
 * 1. {@link checkHeaders}: untrusted-peer → provenance-missing → provenance-malformed →
 *    topology-mismatch → provenance-tampered → provenance-stale. No side effects.
 * 2. {@link checkRequest}: provenance-replayed → (a streamed body is read) → binding-mismatch → envelope-invalid. The nonce is
 *    reserved atomically at the replay step and released again when a later check refuses, so only
 *    an accepted request consumes it (docs/provenance.md, "Replay").
 */
import { spiffeId } from '../topology/identity.js';
import type { ResolvedService, ResolvedTopology } from '../topology/resolve.js';
import { verifyChain, type VerifiedHop } from './chain.js';
import { combineFieldLines, parseProvenanceHeader } from './codec.js';
import { checkContentDigest, checkContentDigestHash } from './digest.js';
import type { EnvelopeReader, VerifiedEnvelopeResult } from './envelope.js';
import type { HopKeyring } from './keys.js';
import { METHOD_PATTERN } from './mac.js';
import { ProvenanceError } from './problems.js';
import { HEADER, SCAN_ID_PATTERN, type HopRecord, type RequestFacts } from './record.js';
import type { ReplayCache } from './replay/cache.js';
import { parseV2Fields } from './v2/fields.js';
import type { V2Keyring } from './v2/keys.js';
import { V2_HEADER, V2_TAG } from './v2/profile.js';
import { verifyV2Chain } from './v2/verify.js';

const V1_ONLY: ChainVersions = { v1: true, v2: false, requireV2: false };

/** Visible ASCII and SP without `|`: what a Content-Digest may hold inside a MAC input. */
const DIGEST_CHARS = /^[\x20-\x7b\x7d\x7e]*$/;

/** Who the TLS peer of the service is: its certificate's CN, SHA-256 fingerprint and SPIFFE ID. */
export interface PeerIdentity {
  cn: string;
  fingerprint: string;
  /** The certificate's one SPIFFE ID URI SAN (docs/topology.md#identities); null when it has none or several. */
  spiffeId: string | null;
}

/**
 * The profile's members of a v2 request as received (canonical, other signatures left out): what
 * the store keeps so anyone with the hops' public keys can re-verify the chain offline.
 */
export interface V2Evidence {
  signatureInput: string;
  signature: string;
}

/** What a request proved, attached to it once every check passed. */
export interface VerifiedProvenance {
  scanId: string;
  contentDigest: string | null;
  hops: VerifiedHop[];
  /** Set when the chain was verified as version 2 (docs/provenance.md#part-2-version-2). */
  v2?: V2Evidence;
  envelope?: VerifiedEnvelopeResult;
}

/**
 * Which versions a service's chain can carry (docs/provenance.md#v2-choosing-the-version): v1 when
 * every stamping hop stamps v1, v2 when every one stamps v2; `requireV2` refuses v1-only requests.
 */
export interface ChainVersions {
  v1: boolean;
  v2: boolean;
  requireV2: boolean;
}

/** Fixed per service: what the checks compare against. */
export interface VerifierContext {
  topology: ResolvedTopology;
  service: ResolvedService;
  keys: HopKeyring;
  /** The hops' v2 verification keys (public keys; secrets only of hmac-sha256 hops); default none. */
  v2Keys?: V2Keyring;
  /** Default: v1 only. */
  versions?: ChainVersions;
  replayCache: ReplayCache;
  /** Clock in ms. */
  now: () => number;
}

/** The request as an adapter sees it before the body. */
export interface IncomingFacts {
  method: string;
  /** The request target as received (origin-form path and query). */
  url: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  peer: PeerIdentity | null;
}

/** The first stamping hop's facts that phase 2 reads: the replay key and the scanner it saw. */
export interface FirstHop {
  hop: string;
  nonce: string;
  ts: number;
  peer: string;
  peerId: string;
}

/** Result of phase 1: the parsed and chain-verified header. */
export interface CheckedHeaders {
  request: RequestFacts;
  /** The v1 records; empty when the chain was verified as v2. */
  records: HopRecord[];
  hops: VerifiedHop[];
  first: FirstHop;
  v2?: V2Evidence;
}

/**
 * Phase 1. @throws ProvenanceError with the first failing code.
 */
export function checkHeaders(incoming: IncomingFacts, ctx: VerifierContext): CheckedHeaders {
  const lastHop = ctx.service.chain.at(-1);
  if (!incoming.peer || !lastHop || incoming.peer.cn !== lastHop.id) {
    throw new ProvenanceError('untrusted-peer', `the TLS peer must be ${lastHop?.id ?? '(none)'}, got ${incoming.peer ? `"${incoming.peer.cn}"` : 'none'}`);
  }
  // The CN alone is not the identity: a scanner or service leaf may carry any CN its issuer
  // allowed, so the role in the SPIFFE ID must say gateway too (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes, check 1).
  const expected = spiffeId(ctx.topology.trustDomain, 'gateway', lastHop.id);
  if (incoming.peer.spiffeId !== expected) {
    throw new ProvenanceError('untrusted-peer', `the TLS peer must be ${expected}, got ${incoming.peer.spiffeId ?? 'a certificate without one SPIFFE ID'}`);
  }
  const scanId = combineFieldLines(incoming.headers[HEADER.scanId]);
  if (scanId === null || scanId.trim() === '') throw new ProvenanceError('provenance-missing', 'X-Stella-Scan-Id is missing');
  const versions = ctx.versions ?? V1_ONLY;
  const v2 = v2Fields(incoming, versions);
  const provenance = v2 ? null : combineFieldLines(incoming.headers[HEADER.provenance]);
  if (!v2 && (provenance === null || provenance.trim() === '')) {
    throw new ProvenanceError('provenance-missing', versions.v2 ? 'neither X-Stella-Provenance nor Signature-Input/Signature is present' : 'X-Stella-Provenance is missing');
  }

  if (!SCAN_ID_PATTERN.test(scanId)) throw new ProvenanceError('provenance-malformed', 'X-Stella-Scan-Id has the wrong format');
  // The MAC input holds the method between `|`s, so its grammar is narrower than RFC 9110's token:
  // a method Node accepts but a MAC cannot cover (M-SEARCH) is the client's mistake, not a 500.
  if (!METHOD_PATTERN.test(incoming.method)) {
    throw new ProvenanceError('provenance-malformed', `method ${JSON.stringify(incoming.method)} is not one a hop record can cover (upper-case letters only)`);
  }
  const contentDigest = combineFieldLines(incoming.headers[HEADER.contentDigest]);
  // The MAC input is `|`-joined; only the path may hold `|`, so the digest must not (docs/provenance.md).
  if (contentDigest !== null && !DIGEST_CHARS.test(contentDigest)) {
    throw new ProvenanceError('provenance-malformed', 'Content-Digest holds characters outside visible ASCII or a "|"');
  }
  const request: RequestFacts = { method: incoming.method, pathAndQuery: incoming.url, scanId, contentDigest };
  if (v2) return checkV2(v2, request, ctx);
  const records = parseProvenanceHeader(provenance!, ctx.topology.provenance);
  try {
    const hops = verifyChain(records, { topology: ctx.topology, service: ctx.service, keys: ctx.keys, request, now: ctx.now() });
    const r = records[0]!;
    return { request, records, hops, first: { hop: r.hop, nonce: r.nonce, ts: r.ts, peer: r.peer, peerId: r.peerId } };
  } catch (error) {
    if (error instanceof ProvenanceError) error.hopIds = records.map((r) => r.hop);
    throw error;
  }
}

/**
 * The v2 fields when this request is to be checked as v2, or null for v1: always when the service
 * requires v2 or its chain stamps only v2; otherwise when `Signature-Input` names the profile's tag
 * (a v1-capable chain accepts v1, so stripping v2 gains a forger nothing there).
 * @throws ProvenanceError `provenance-missing` when v2 is due but a field is absent.
 */
function v2Fields(incoming: IncomingFacts, versions: ChainVersions): { signatureInput: string; signature: string } | null {
  if (!versions.v2) return null;
  const signatureInput = combineFieldLines(incoming.headers[V2_HEADER.signatureInput]);
  const signature = combineFieldLines(incoming.headers[V2_HEADER.signature]);
  const due = versions.requireV2 || !versions.v1 || (signatureInput !== null && signatureInput.includes(V2_TAG));
  if (!due) return null;
  if (signatureInput === null || signatureInput.trim() === '' || signature === null || signature.trim() === '') {
    throw new ProvenanceError('provenance-missing', 'Signature-Input or Signature is missing');
  }
  return { signatureInput, signature };
}

function checkV2(fields: { signatureInput: string; signature: string }, request: RequestFacts, ctx: VerifierContext): CheckedHeaders {
  const members = parseV2Fields(fields.signatureInput, fields.signature, ctx.topology.provenance);
  if (members.length === 0) throw new ProvenanceError('provenance-missing', `no Signature-Input member of ${V2_TAG}`);
  try {
    const hops = verifyV2Chain(members, { topology: ctx.topology, service: ctx.service, keys: ctx.v2Keys ?? new Map(), request, now: ctx.now() });
    const m = members[0]!;
    const v2: V2Evidence = {
      signatureInput: members.map((x) => `${x.label}=${x.signatureParams}`).join(', '),
      signature: members.map((x) => `${x.label}=${x.signatureValue}`).join(', '),
    };
    return { request, records: [], hops, first: { hop: m.hop, nonce: m.params.nonce, ts: m.params.created, peer: m.params.peer, peerId: m.params.peerId }, v2 };
  } catch (error) {
    if (error instanceof ProvenanceError) error.hopIds = members.map((x) => x.hop);
    throw error;
  }
}

/**
 * A body the adapter did not keep in memory: its length and SHA-256, taken while it streamed to a
 * spool file (the guard, docs/services.md#the-guard). The binding check is the same one.
 */
export interface StreamedBody {
  length: number;
  sha256: Buffer;
}

/**
 * A body still to be read: called once the nonce is reserved (after the replay check), it streams
 * the body to its destination and answers what it measured (the locker's artifact upload,
 * docs/services.md#artifacts). It may refuse by throwing; the nonce is released then.
 */
export type BodyReader = () => Promise<StreamedBody>;

/** The body and, on envelope routes, the envelope reader. */
export interface BodyFacts {
  /** Raw body bytes, or what was measured of a streamed one, or a reader that streams it; null when the request has none. */
  body: Buffer | StreamedBody | BodyReader | null;
  /** Set on routes that carry a DSSE envelope. */
  envelope: EnvelopeReader | null;
}

/**
 * Phase 2. @throws ProvenanceError `provenance-replayed`, `binding-mismatch` or `envelope-invalid`.
 */
export async function checkRequest(checked: CheckedHeaders, body: BodyFacts, ctx: VerifierContext): Promise<VerifiedProvenance> {
  const { first } = checked;
  const { maxAgeSeconds, clockSkewSeconds } = ctx.topology.provenance;
  // Keep the nonce exactly as long as its record could still pass the stale check, plus a second.
  const expiresAtMs = (first.ts + maxAgeSeconds + clockSkewSeconds + 1) * 1000;
  const fresh = await ctx.replayCache.checkAndRemember(first.hop, first.nonce, expiresAtMs);
  if (!fresh) throw withHops(new ProvenanceError('provenance-replayed', `${first.hop} nonce ${first.nonce} was already used`), checked);
  try {
    const facts = typeof body.body === 'function' ? { ...body, body: await body.body() } : (body as BodyFacts & { body: Buffer | StreamedBody | null });
    return await bindAndVerify(checked, facts, ctx.topology.name, ctx.service.chain[0]!.id);
  } catch (error) {
    // Release the nonce so a refused request does not burn it; if the shared cache is down the
    // nonce simply stays reserved until it expires — the client still gets the real refusal.
    await ctx.replayCache.forget(first.hop, first.nonce).catch(() => undefined);
    if (error instanceof ProvenanceError) withHops(error, checked);
    throw error;
  }
}

async function bindAndVerify(checked: CheckedHeaders, { body, envelope }: BodyFacts & { body: Buffer | StreamedBody | null }, topologyName: string, edgeHop: string): Promise<VerifiedProvenance> {
  const { request, first, hops } = checked;
  const bytes = body === null ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : null;
  const streamed = bytes ? null : (body as StreamedBody);
  if (request.contentDigest === null) {
    if ((bytes ?? streamed!).length > 0) throw new ProvenanceError('binding-mismatch', 'a request with a body needs Content-Digest');
  } else {
    const problem = bytes ? checkContentDigest(request.contentDigest, bytes) : checkContentDigestHash(request.contentDigest, streamed!.sha256);
    if (problem) throw new ProvenanceError('binding-mismatch', problem);
  }
  const result: VerifiedProvenance = { scanId: request.scanId, contentDigest: request.contentDigest, hops, ...(checked.v2 ? { v2: checked.v2 } : {}) };
  if (!envelope) return result;
  // An envelope is read from its bytes; an adapter that streamed the body away cannot have one.
  if (!bytes) throw new TypeError('checkRequest: an envelope route needs the body bytes, not a streamed body');

  // Binding (422) is judged before the signatures (401), per the order of docs/provenance.md; the intent read
  // here is compared only, and the verified payload must be these very bytes.
  const read = envelope.read(bytes);
  if (read.ok) {
    const { intent } = read;
    if (intent.scanId !== request.scanId) throw new ProvenanceError('binding-mismatch', 'the envelope intent names another scan id');
    if (intent.topology !== topologyName) throw new ProvenanceError('binding-mismatch', 'the envelope intent names another topology');
    if (intent.edgeHop !== edgeHop) throw new ProvenanceError('binding-mismatch', 'the envelope intent names another edge hop');
    if (intent.clientCertSha256 !== first.peer) {
      throw new ProvenanceError('binding-mismatch', 'the first hop saw another client certificate than the envelope intent names');
    }
  }
  // Whose keys count is decided by the certificate the edge saw (hop 1's peer-id, which check 4
  // pinned to a scanner of this edge), never by the envelope (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes, check 9).
  result.envelope = await envelope.verify(read, first.peerId);
  return result;
}

function withHops(error: ProvenanceError, checked: CheckedHeaders): ProvenanceError {
  error.hopIds = checked.hops.map((h) => h.id);
  return error;
}
