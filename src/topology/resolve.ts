/**
 * Turns a parsed topology into the resolved model every other part reads: absolute paths, the
 * default PKI layout filled in, and the chain of hops in front of each service.
 *
 * Pure: takes the directory of the topology file as input and touches no file. Call it only on a
 * topology that `validateTopology` accepted; on anything else it throws a `TypeError`.
 */
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import { issuedPaths as issuedLeafPaths, PKI_LAYOUT, type PkiRole } from '../conventions/index.js';
import { spiffeId } from './identity.js';
import { DEFAULT_HOP_LIMITS, DEFAULT_WAF_SETTINGS, type CertificateFiles, type Hop, type HopLimits, type Scanner, type Service, type StamperConfig, type StampingHop, type Topology, type WafSettings } from './schema.js';

/** Where `pki issue` puts a leaf: `<pki.dir>/issued/<role>/<name>/{cert,key,chain}.pem` (the conventions floor's PKI layout). */
export function issuedPaths(pkiDir: string, role: PkiRole, name: string): Required<CertificateFiles> {
  return { ...issuedLeafPaths(pkiDir, role, name) };
}

/** Default file names inside a PKI directory (the conventions floor's PKI layout). */
export { PKI_LAYOUT };

export interface ResolvedHop extends Omit<Hop, 'tls' | 'upstreamTls' | 'limits' | 'waf'> {
  serverName: string;
  /** `limits` with every default applied here, once: renderers and the timeout schedule read these values as they are. */
  limits: HopLimits;
  /** `waf` with the CRS defaults applied (read by apache-modsecurity hops only; validation refuses `waf` on other kinds). */
  waf: WafSettings;
  tls: Required<CertificateFiles>;
  upstreamTls: Required<CertificateFiles>;
  /** Where this hop forwards to: another hop or a service. */
  nextTarget: { type: 'hop'; hop: ResolvedHop } | { type: 'service'; service: ResolvedService };
  /** 1-based position of this hop among the *stamping* hops of its chain, or null for an opaque hop. */
  stampSeq: number | null;
}

export interface ResolvedService extends Omit<Service, 'tls' | 'access' | 'registry'> {
  serverName: string;
  /** For an `oci-registry`: the registry behind the guard, its storage folder made absolute. */
  registry?: { listen: string; rootDirectory: string } | undefined;
  /**
   * Who may read besides a scan's owner, and who may read the operational endpoints
   * (docs/services.md#who-may-write-and-read). `ops` defaults to the last hop (its health
   * checks) and every scanner (the probe's `/healthz/traversal`).
   */
  access: { readers: string[]; ops: string[] };
  tls: Required<CertificateFiles>;
  /** The hops a request crosses to reach this service, edge first. */
  chain: ResolvedHop[];
}

export interface ResolvedScanner extends Omit<Scanner, 'tls' | 'edge'> {
  tls: Required<CertificateFiles>;
  edge: string;
}

export interface ResolvedTopology {
  readonly source: Topology;
  /** Directory relative paths of the file were resolved against. */
  readonly baseDir: string;
  readonly name: string;
  readonly trustDomain: string;
  readonly pki: { dir: string; caBundle: string; crl: string; reloadSeconds: number };
  readonly scanners: ResolvedScanner[];
  readonly hops: ResolvedHop[];
  readonly services: ResolvedService[];
  readonly provenance: Topology['provenance'];
  readonly headers: Topology['headers'];
}

/**
 * Resolves paths and derives chains.
 *
 * @example
 * const resolved = resolveTopology(parsed, dirname(file));
 * resolved.services[0].chain.map((h) => h.id); // ['gw-edge', 'waf', 'gw-internal']
 */
export function resolveTopology(topology: Topology, baseDir: string): ResolvedTopology {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolvePath(baseDir, p));
  const files = (given: CertificateFiles | undefined, fallback: Required<CertificateFiles>): Required<CertificateFiles> =>
    given ? { cert: abs(given.cert), key: abs(given.key), chain: abs(given.chain ?? given.cert) } : fallback;

  const pkiDir = abs(topology.pki.dir);
  const pki = {
    dir: pkiDir,
    caBundle: topology.pki.caBundle ? abs(topology.pki.caBundle) : join(pkiDir, PKI_LAYOUT.caBundle),
    crl: topology.pki.crl ? abs(topology.pki.crl) : join(pkiDir, PKI_LAYOUT.crl),
    reloadSeconds: topology.pki.reloadSeconds,
  };

  const services: ResolvedService[] = topology.services.map((s) => ({
    ...s,
    serverName: s.serverName ?? s.id,
    tls: files(s.tls, issuedPaths(pkiDir, 'service', s.id)),
    storage: s.storage?.kind === 'sqlite' ? { ...s.storage, file: abs(s.storage.file) } : s.storage,
    receiptKey: s.receiptKey ? abs(s.receiptKey) : undefined,
    registry: s.registry ? { ...s.registry, rootDirectory: abs(s.registry.rootDirectory ?? join('registry', s.id)) } : undefined,
    access: { readers: [...s.access.readers], ops: s.access.ops ? [...s.access.ops] : [] },
    chain: [],
  }));

  const hops: ResolvedHop[] = topology.hops.map((h) => {
    const tls = files(h.tls, issuedPaths(pkiDir, 'gateway', h.id));
    return {
      ...h,
      serverName: h.serverName ?? h.id,
      limits: { ...DEFAULT_HOP_LIMITS, ...h.limits },
      waf: { ...DEFAULT_WAF_SETTINGS, ...h.waf },
      tls,
      upstreamTls: files(h.upstreamTls, tls),
      stamp: h.stamp === false ? false : { ...h.stamp, keys: h.stamp.keys.map((k) => ({ ...k, file: abs(k.file) })), ...resolvedSigning(h.stamp.signing, abs), ...resolvedStamper(h.stamp.stamper, abs) },
      // Filled in below once every hop exists.
      nextTarget: undefined as unknown as ResolvedHop['nextTarget'],
      stampSeq: null,
    };
  });

  const hopById = new Map(hops.map((h) => [h.id, h]));
  const serviceById = new Map(services.map((s) => [s.id, s]));
  for (const hop of hops) {
    const nextHop = hopById.get(hop.next);
    const nextService = serviceById.get(hop.next);
    if (nextHop) hop.nextTarget = { type: 'hop', hop: nextHop };
    else if (nextService) hop.nextTarget = { type: 'service', service: nextService };
    else throw new TypeError(`resolveTopology: hop ${hop.id} points at unknown "${hop.next}"; validate first`);
  }

  for (const service of services) {
    service.chain = chainTo(service.id, hops, topology.provenance.maxHops);
    let seq = 0;
    for (const hop of service.chain) hop.stampSeq = hop.stamp === false ? null : ++seq;
    const lastHop = service.chain.at(-1);
    if (!topology.services.find((s) => s.id === service.id)?.access.ops && lastHop) {
      service.access.ops = [spiffeId(topology.trustDomain, 'gateway', lastHop.id), `spiffe://${topology.trustDomain}/scanner/*`];
    }
  }

  const edges = edgeHops(hops);
  const scanners: ResolvedScanner[] = topology.scanners.map((s) => {
    const edge = s.edge ?? edges[0]?.id;
    if (!edge) throw new TypeError('resolveTopology: no edge hop; validate first');
    return {
      ...s,
      edge,
      tls: files(s.tls, issuedPaths(pkiDir, 'scanner', s.id)),
      signing: { keys: s.signing.keys.map((k) => ({ ...k, file: abs(k.file), publicFile: k.publicFile ? abs(k.publicFile) : undefined })) },
    };
  });

  return {
    source: topology,
    baseDir,
    name: topology.name,
    trustDomain: topology.trustDomain,
    pki,
    scanners,
    hops,
    services,
    provenance: topology.provenance,
    headers: topology.headers,
  };
}

/** Hops that no other hop forwards to: where scanners connect. */
export function edgeHops<T extends { id: string; next: string }>(hops: readonly T[]): T[] {
  const targets = new Set(hops.map((h) => h.next));
  return hops.filter((h) => !targets.has(h.id));
}

/** The hops in front of a service, edge first. Walks `next` backwards; assumes no cycles. */
function chainTo(serviceId: string, hops: ResolvedHop[], maxHops: number): ResolvedHop[] {
  const chain: ResolvedHop[] = [];
  let target = serviceId;
  for (let i = 0; i <= maxHops; i++) {
    const before = hops.find((h) => h.next === target);
    if (!before) break;
    chain.unshift(before);
    target = before.id;
  }
  return chain;
}

/** The stamping hops of a service's chain, in stamping order: what `X-Stella-Provenance` must list. */
export function stampingHops(service: ResolvedService): ResolvedHop[] {
  return service.chain.filter((h) => h.stamp !== false);
}

/**
 * The `peer-id` each stamping hop must record: the CN of the certificate its immediate downstream
 * presented — the scanner for the edge, otherwise the previous hop (opaque hops included).
 * Returns null for the edge, whose peer is whichever scanner connected.
 */
export function expectedPeerId(service: ResolvedService, hop: ResolvedHop): string | null {
  const index = service.chain.indexOf(hop);
  if (index <= 0) return null;
  return service.chain[index - 1]!.id;
}

/** A stamper's socket path, made absolute like every other file of the topology. */
function resolvedStamper(stamper: StamperConfig | undefined, abs: (p: string) => string): { stamper?: StamperConfig } {
  if (!stamper) return {};
  return { stamper: 'socket' in stamper ? { ...stamper, socket: abs(stamper.socket) } : stamper };
}

/** A hop's v2 signing key files, made absolute like every other file of the topology. */
function resolvedSigning(signing: StampingHop['stamp']['signing'], abs: (p: string) => string): Pick<StampingHop['stamp'], 'signing'> {
  if (!signing) return {};
  return { signing: { ...signing, keys: signing.keys.map((k) => ({ ...k, file: abs(k.file), ...(k.publicFile ? { publicFile: abs(k.publicFile) } : {}) })) } };
}
