/**
 * The cross-field rules of a topology (docs/topology.md): everything the zod shapes of
 * `schema.ts` cannot say on their own. Pure: files are looked at only through an injected
 * {@link FileProbe}, so the rules can be tested without a disk.
 */
import { listenHost } from './replicas.js';
import { WIRE_HEADERS } from '../conventions/index.js';
import type { TopologyProblem } from './errors.js';
import { FORWARD_AUTH_KINDS, GUARDED_SERVICE_KINDS, NATIVE_STAMP_KINDS, type HopKind, type ServiceKind, type StampProfile, type Topology, type V2StampAlg } from './schema.js';
import { v2Problems } from './validate-v2.js';
import { edgeHops } from './resolve.js';
import { checkFiles, type FileProbe } from './files-check.js';

export type { FileProbe } from './files-check.js';

/** Options of {@link validateTopology}. */
export interface ValidateOptions {
  /** When given, key and certificate files are checked through it (existence, size, content). */
  readonly files?: FileProbe;
  /** Folder that relative paths are resolved against for the file checks; default the cwd. */
  readonly baseDir?: string;
}

/** Request headers the edge must forward (docs/provenance.md): scan id and digest are MAC inputs. */
const PROTOCOL_HEADERS: readonly string[] = [WIRE_HEADERS.scanId, WIRE_HEADERS.contentDigest];

/** Addresses a TCP stamper may listen on: next to its gateway, loopback only (docs/provenance.md#the-forward-auth-stamper). */
const LOOPBACK_HOST = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|localhost)$/;

function isLoopback(listen: string): boolean {
  return LOOPBACK_HOST.test(listenHost(listen));
}

/**
 * The fields the cross-field rules read. A shape-valid {@link Topology} is one; so is a draft that
 * failed its shape check elsewhere (`parse.ts` parses it loosely), so both kinds of problem can be
 * reported together.
 */
export interface RuleInput {
  readonly trustDomain?: string | undefined;
  readonly hops: readonly {
    id: string;
    kind: HopKind;
    listen: string;
    stamp:
      | false
      | {
          via: 'native' | 'forward-auth';
          profile?: StampProfile | undefined;
          keys?: readonly { kid: string }[] | undefined;
          signing?: { alg: V2StampAlg; keys: readonly { kid: string; publicFile?: string | undefined }[] } | undefined;
          stamper?: { listen?: string | undefined; socket?: string | undefined } | undefined;
        };
    waf?: unknown;
    next: string;
  }[];
  readonly services: readonly {
    id: string;
    kind: ServiceKind;
    listen: string;
    replicas?: readonly string[] | undefined;
    receiptKey?: string | undefined;
    registry?: { listen: string } | undefined;
    storage?: { kind: 'sqlite' } | { kind: 'postgres'; url: string } | undefined;
    envelopeThreshold: number;
    access?: { readers?: readonly string[] | undefined; ops?: readonly string[] | undefined } | undefined;
    provenance?: { require?: 'v2' | undefined } | undefined;
  }[];
  readonly scanners: readonly { id: string; edge?: string | undefined; signing: { keys: readonly { kid: string }[] } }[];
  readonly provenance: { maxHops: number };
  readonly headers: { strip: readonly string[] };
}

/**
 * Returns every problem of a shape-valid topology — cross-field rules, and files when a probe is
 * given; empty when it is usable.
 *
 * @example
 * validateTopology(topology); // [{ path: 'hops[1].next', message: 'no hop or service "gw-intrnal"' }]
 */
export function validateTopology(topology: Topology, options: ValidateOptions = {}): TopologyProblem[] {
  const problems = crossFieldProblems(topology);
  if (options.files) problems.push(...checkFiles(topology, options.files, options.baseDir));
  return problems;
}

/**
 * Replicas (docs/topology.md#replicas): of a locker or WebService only (the guard of a registry
 * keeps its registry's one address), and on one SQLite file only when every replica runs on the
 * same host as `listen` — the file's WAL and lock are shared through the local file system, never
 * over a network; PostgreSQL is the store for replicas on several hosts.
 */
function replicaProblems(service: RuleInput['services'][number], at: string): TopologyProblem[] {
  if (!service.replicas) return [];
  if (service.kind === 'oci-registry') return [{ path: `${at}.replicas`, message: 'an oci-registry service has one guard in front of one registry; replicas are for evidence-locker and scanner-webservice' }];
  if (service.storage?.kind === 'postgres') return [];
  const host = listenHost(service.listen);
  return service.replicas.flatMap((address, r) =>
    listenHost(address) === host
      ? []
      : [{ path: `${at}.replicas[${r}]`, message: `replicas sharing a SQLite file must run on the host of listen (${host}), not ${listenHost(address)}: use storage kind postgres for replicas on several hosts` }],
  );
}

/** The cross-field rules alone (no files). */
export function crossFieldProblems(topology: RuleInput): TopologyProblem[] {
  const problems: TopologyProblem[] = [];
  const add = (path: string, message: string): void => {
    problems.push({ path, message });
  };
  const { hops, services, scanners } = topology;

  // Unique ids: hop and service ids share one namespace (a `next` names either); scanner ids are
  // certificate CNs like hop ids, so a scanner named like a hop could pass for it (docs/provenance.md peer-id).
  const idOwner = new Map<string, string>();
  const claim = (id: string, path: string, what: string): void => {
    const other = idOwner.get(id);
    if (other) add(path, `duplicate ${what} "${id}" (already used by ${other})`);
    else idOwner.set(id, path.replace(/\.id$/, ''));
  };
  hops.forEach((h, i) => claim(h.id, `hops[${i}].id`, 'id'));
  services.forEach((s, i) => claim(s.id, `services[${i}].id`, 'id'));
  scanners.forEach((s, i) => claim(s.id, `scanners[${i}].id`, 'id'));

  // Every listener is distinct: two programs cannot bind one address.
  const listenOwner = new Map<string, string>();
  const listen = (address: string, path: string): void => {
    const other = listenOwner.get(address);
    if (other) add(path, `${address} is already the listen address of ${other}`);
    else listenOwner.set(address, path.replace(/\.listen$/, ''));
  };
  hops.forEach((h, i) => listen(h.listen, `hops[${i}].listen`));
  services.forEach((s, i) => listen(s.listen, `services[${i}].listen`));
  services.forEach((s, i) => s.replicas?.forEach((address, r) => listen(address, `services[${i}].replicas[${r}]`)));
  services.forEach((s, i) => problems.push(...replicaProblems(s, `services[${i}]`)));
  // Apache proxies to a replica by the service's serverName and the replica's port (mod_proxy has
  // no separate SNI setting), so in front of replicas it needs them all on one host.
  hops.forEach((h, i) => {
    const target = services.find((s) => s.id === h.next);
    if (h.kind !== 'apache-modsecurity' || !target?.replicas) return;
    const host = listenHost(target.listen);
    if (target.replicas.some((address) => listenHost(address) !== host)) add(`hops[${i}].next`, `an apache-modsecurity hop reaches the replicas of ${target.id} by its serverName, so they must all listen on ${host}`);
  });
  hops.forEach((h, i) => {
    if (h.stamp !== false && h.stamp.stamper?.listen !== undefined) listen(h.stamp.stamper.listen, `hops[${i}].stamp.stamper.listen`);
    // Two stampers on one socket path: the second would find the first's socket in use.
    if (h.stamp !== false && h.stamp.stamper?.socket !== undefined) listen(`unix:${h.stamp.stamper.socket}`, `hops[${i}].stamp.stamper.socket`);
  });
  services.forEach((s, i) => {
    if (s.registry) listen(s.registry.listen, `services[${i}].registry.listen`);
  });

  hops.forEach((hop, i) => {
    const at = `hops[${i}]`;
    if (hop.kind === 'apache-modsecurity') {
      if (hop.stamp !== false) add(`${at}.stamp`, 'an apache-modsecurity hop cannot stamp; set stamp: false (an opaque hop, docs/provenance.md#rules-for-every-hop, rule 2)');
    } else if (hop.waf) {
      add(`${at}.waf`, `only apache-modsecurity hops take waf settings, not ${hop.kind}`);
    }
    if (hop.stamp === false) return;
    const { via, keys, stamper } = hop.stamp;
    if (via === 'native' && !NATIVE_STAMP_KINDS.has(hop.kind) && hop.kind !== 'apache-modsecurity') {
      add(`${at}.stamp.via`, `${hop.kind} cannot compute the hop MAC natively; use via: forward-auth`);
    }
    if (via === 'forward-auth' && !FORWARD_AUTH_KINDS.has(hop.kind) && hop.kind !== 'apache-modsecurity') {
      add(`${at}.stamp.via`, `${hop.kind} cannot call a forward-auth stamper; use via: native`);
    }
    if (via === 'forward-auth' && !stamper) add(`${at}.stamp.stamper`, 'required when via is forward-auth (socket: PATH, or listen: host:port for mTLS)');
    if (via === 'native' && stamper) add(`${at}.stamp.stamper`, 'only used with via: forward-auth');
    if (stamper?.listen !== undefined && !isLoopback(stamper.listen)) {
      add(`${at}.stamp.stamper.listen`, 'must be a loopback address: the stamper serves the gateway next to it');
    }
    duplicateKids(keys ?? [], `${at}.stamp.keys`, add);
    if (hop.stamp.signing) duplicateKids(hop.stamp.signing.keys, `${at}.stamp.signing.keys`, add);
  });

  scanners.forEach((s, i) => duplicateKids(s.signing.keys, `scanners[${i}].signing.keys`, add));

  services.forEach((service, i) => {
    const at = `services[${i}]`;
    if (service.kind === 'evidence-locker' && !service.receiptKey) add(`${at}.receiptKey`, 'required for an evidence-locker (it signs traversal receipts, docs/services.md)');
    if (service.kind !== 'evidence-locker' && service.receiptKey) add(`${at}.receiptKey`, `only an evidence-locker signs receipts, not a ${service.kind}`);
    if (service.storage?.kind === 'postgres' && !/^(postgres(ql)?:\/\/.+|env:[A-Za-z_][A-Za-z0-9_]*)$/.test(service.storage.url)) {
      add(`${at}.storage.url`, 'must be a postgres:// or postgresql:// URL, or env:NAME to read it from the environment');
    }
    if (GUARDED_SERVICE_KINDS.has(service.kind)) {
      if (!service.registry) add(`${at}.registry`, `required for an ${service.kind} (where the registry behind the guard listens, docs/topology.md#oci-registry)`);
      else if (!isLoopback(service.registry.listen)) add(`${at}.registry.listen`, 'must be a loopback address: only the guard may reach the registry (docs/services.md#the-guard)');
    } else if (service.registry) {
      add(`${at}.registry`, `only an oci-registry has a registry behind it; an ${service.kind} verifies provenance itself`);
    }
    accessProblems(topology, service.access, at, add);
    const fewest = Math.min(...scanners.map((s) => s.signing.keys.length));
    if (service.envelopeThreshold > fewest) {
      add(`${at}.envelopeThreshold`, `${service.envelopeThreshold} exceeds the ${fewest} signing key(s) of a scanner; no envelope could pass`);
    }
  });

  // The MAC covers these (docs/provenance.md); an edge that stripped them would make every request fail.
  topology.headers.strip.forEach((name, i) => {
    if (PROTOCOL_HEADERS.includes(name.toLowerCase())) add(`headers.strip[${i}]`, `${name} is part of the provenance protocol and must reach the services`);
  });

  chainProblems(topology, add);
  v2Problems(topology, add);
  return problems;
}


/**
 * `services[].access` names identities that can actually reach the service that way
 * (docs/topology.md#access): readers come through the chain, so they are scanners of this
 * topology; ops identities are scanners (through the chain), hops (the last hop's health checks)
 * or any service-role leaf (a metrics scraper connecting directly).
 */
function accessProblems(topology: RuleInput, access: RuleInput['services'][number]['access'], at: string, add: (path: string, message: string) => void): void {
  if (!access) return;
  const scannerIds = new Set(topology.scanners.map((s) => s.id));
  const hopIds = new Set(topology.hops.map((h) => h.id));
  const check = (list: readonly string[] | undefined, field: 'readers' | 'ops'): void => {
    list?.forEach((pattern, j) => {
      const path = `${at}.access.${field}[${j}]`;
      const match = /^spiffe:\/\/([^/]+)\/([^/]+)\/(.+)$/.exec(pattern);
      if (!match) return; // the shape check reports it
      const [, trustDomain, role, name] = match;
      if (topology.trustDomain !== undefined && trustDomain !== topology.trustDomain) add(path, `${pattern} is not in trust domain ${topology.trustDomain}`);
      if (field === 'readers' && role !== 'scanner') add(path, `readers reach the service through the chain, so they are scanners (spiffe://…/scanner/<id>), not ${role}s`);
      if (name === '*') return;
      if (role === 'scanner' && !scannerIds.has(name!)) add(path, `no scanner "${name}" in this topology`);
      if (role === 'gateway' && !hopIds.has(name!)) add(path, `no hop "${name}" in this topology`);
    });
  };
  check(access.readers, 'readers');
  check(access.ops, 'ops');
}

function duplicateKids(keys: readonly { kid: string }[], at: string, add: (path: string, message: string) => void): void {
  const seen = new Set<string>();
  keys.forEach((k, j) => {
    if (seen.has(k.kid)) add(`${at}[${j}].kid`, `duplicate kid "${k.kid}"`);
    seen.add(k.kid);
  });
}

/**
 * The graph rules: `next` targets exist, one hop in front of each target, no cycles, every hop
 * reaches a service, each service is reached, depth ≤ maxHops, edges stamp, scanner edges.
 */
function chainProblems(topology: RuleInput, add: (path: string, message: string) => void): void {
  const { hops, services, scanners, provenance } = topology;
  const hopIndex = new Map(hops.map((h, i) => [h.id, i]));
  const serviceIds = new Set(services.map((s) => s.id));

  const before = new Map<string, number>();
  hops.forEach((hop, i) => {
    if (!hopIndex.has(hop.next) && !serviceIds.has(hop.next)) {
      add(`hops[${i}].next`, `no hop or service "${hop.next}"`);
      return;
    }
    const other = before.get(hop.next);
    // A chain is a line (docs/topology.md): a fan-in would give one target two different expected peers.
    if (other !== undefined) add(`hops[${i}].next`, `"${hop.next}" already follows hops[${other}] (${hops[other]?.id}); each hop or service has one hop in front of it`);
    else before.set(hop.next, i);
  });

  // Walk forward from each hop; a revisit is a cycle, reported once at its first member.
  const reported = new Set<string>();
  hops.forEach((hop, i) => {
    const seen: string[] = [hop.id];
    let current = hop;
    for (;;) {
      const nextIndex = hopIndex.get(current.next);
      if (nextIndex === undefined) return; // reached a service or a dangling next (reported above)
      const next = hops[nextIndex]!;
      const loopAt = seen.indexOf(next.id);
      if (loopAt >= 0) {
        const cycle = seen.slice(loopAt);
        const key = [...cycle].sort().join(',');
        if (!reported.has(key) && loopAt === 0) {
          reported.add(key);
          add(`hops[${i}].next`, `cycle ${[...cycle, next.id].join(' → ')}; a chain must end at a service`);
        }
        return;
      }
      seen.push(next.id);
      current = next;
    }
  });
  if (reported.size > 0) return; // chains are meaningless with a cycle

  const edges = edgeHops(hops);
  if (edges.length === 0) add('hops', 'no edge hop: every hop is forwarded to by another');

  services.forEach((service, i) => {
    const chain: number[] = [];
    let target = service.id;
    for (let b = before.get(target); b !== undefined; b = before.get(target)) {
      chain.unshift(b);
      target = hops[b]!.id;
    }
    if (chain.length === 0) {
      add(`services[${i}]`, `no hop forwards to "${service.id}"; every service sits behind a chain`);
      return;
    }
    if (chain.length > provenance.maxHops) {
      add(`services[${i}]`, `the chain to "${service.id}" has ${chain.length} hops, more than provenance.maxHops (${provenance.maxHops})`);
    }
    const edge = chain[0]!;
    if (hops[edge]!.stamp === false) {
      add(`hops[${edge}].stamp`, 'the edge hop must stamp: record 1 binds the scanner certificate to the traversal intent (docs/dsse.md, docs/provenance.md)');
    }
    // docs/provenance.md#part-2-version-2: a member covers the previous stamping hop's member, so a hop
    // can stamp v2 only behind stamping hops that all do.
    let v1Only: string | undefined;
    for (const index of chain) {
      const stamp = hops[index]!.stamp;
      if (stamp === false) continue;
      if ((stamp.profile ?? 'v1') === 'v1') v1Only ??= hops[index]!.id;
      else if (v1Only !== undefined) add(`hops[${index}].stamp.profile`, `stamps v2, but ${v1Only} before it stamps v1 only: its member would cover a signature that never exists`);
    }
  });

  const edgeIds = edges.map((e) => e.id);
  scanners.forEach((scanner, i) => {
    if (scanner.edge === undefined) {
      if (edges.length > 1) add(`scanners[${i}].edge`, `required when the topology has several edges (${edgeIds.join(', ')})`);
      return;
    }
    if (!hopIndex.has(scanner.edge)) add(`scanners[${i}].edge`, `no hop "${scanner.edge}"`);
    else if (!edgeIds.includes(scanner.edge)) add(`scanners[${i}].edge`, `"${scanner.edge}" is not an edge hop (edges: ${edgeIds.join(', ') || 'none'})`);
  });
}
