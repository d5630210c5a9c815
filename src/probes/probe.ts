/**
 * The traversal probe (docs/services.md#health-and-metrics): checks each gateway locally (a verified TLS handshake, its
 * certificate's expiry), reaches each hop through the edge by its health path, and runs the full
 * provenance validation at each service through `/healthz/traversal`.
 */
import { readFile } from 'node:fs/promises';
import { connect } from 'node:tls';
import { Agent, request } from 'undici';
import { parseHostPort, WIRE_HEADERS } from '../conventions/index.js';
import { hopHealthPath } from '../gateways/types.js';
import { replicaAddresses } from '../topology/replicas.js';
import type { ResolvedScanner, ResolvedService, ResolvedTopology } from '../topology/resolve.js';

/** How long one probe step may take. */
export const DEFAULT_PROBE_TIMEOUT_MS = 5_000;

/** One row of the probe table. */
export interface ProbeRow {
  /** Hop or service id. */
  readonly id: string;
  readonly kind: string;
  readonly status: 'ok' | 'fail';
  /** Round trip of the check through the chain (or the handshake, when that failed first). */
  readonly latencyMs: number | null;
  /** notAfter of the certificate the part presented, ISO 8601. */
  readonly certificateExpiry: string | null;
  readonly detail: string;
}

export interface ProbeResult {
  readonly ok: boolean;
  readonly rows: ProbeRow[];
  /** The chain `/healthz/traversal` verified, per service. */
  readonly traversal: Record<string, unknown>;
}

export interface ProbeOptions {
  /** Probe only the chains this scanner sends through; default every chain, each with a scanner of its edge. */
  readonly scannerId?: string | undefined;
  readonly timeoutMs?: number;
  readonly now?: () => number;
}

/** A scanner's TLS material, as presented to a part. */
interface ClientTls {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * Probes the whole topology. Each chain is probed from its own edge, with the certificate of a
 * scanner that sends to that edge (a scanner's certificate is accepted only at its own edge,
 * docs/topology.md); `scannerId` narrows the probe to the chains of that scanner.
 *
 * @example
 * const result = await probeTopology(await loadTopology('topology.yaml'));
 * if (!result.ok) process.exitCode = 1;
 */
export async function probeTopology(topology: ResolvedTopology, options: ProbeOptions = {}): Promise<ProbeResult> {
  const scanners = options.scannerId === undefined ? topology.scanners : topology.scanners.filter((s) => s.id === options.scannerId);
  if (scanners.length === 0) throw new TypeError(`no scanner ${options.scannerId ?? ''} in the topology (scanners: ${topology.scanners.map((s) => s.id).join(', ')})`);
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const now = options.now ?? Date.now;
  const ca = await readFile(topology.pki.caBundle);
  const material = new Map<string, ClientTls>();
  const tlsOf = async (scanner: ResolvedScanner): Promise<ClientTls> => {
    let tls = material.get(scanner.id);
    if (!tls) {
      const [cert, key] = await Promise.all([readFile(scanner.tls.chain), readFile(scanner.tls.key)]);
      material.set(scanner.id, (tls = { ca, cert, key }));
    }
    return tls;
  };
  // The chains probed, each with the scanner that enters it: narrowed away when no scanner of the
  // selection sends to its edge, a failed row when no scanner of the topology does.
  const routes = topology.services.map((service) => ({ service, scanner: scanners.find((s) => s.edge === service.chain[0]?.id) }));
  const probed = options.scannerId === undefined ? routes : routes.filter((r) => r.scanner !== undefined);
  // One connection pool per edge and scanner: each service is reached through the edge of its own chain.
  const agents = new Map<string, Agent>();
  const through = async (service: ResolvedService, scanner: ResolvedScanner): Promise<{ agent: Agent; base: string }> => {
    const edge = service.chain[0];
    if (!edge) throw new TypeError(`service ${service.id} has no chain`);
    const id = `${edge.id}/${scanner.id}`;
    let agent = agents.get(id);
    if (!agent) agents.set(id, (agent = new Agent({ connect: { ...(await tlsOf(scanner)), servername: edge.serverName } })));
    return { agent, base: `https://${edge.listen}` };
  };
  const rows: ProbeRow[] = [];
  const traversal: Record<string, unknown> = {};
  try {
    for (const hop of topology.hops) {
      const route = probed.find((r) => r.service.chain.includes(hop));
      if (!route) continue;
      if (!route.scanner) {
        rows.push({ id: hop.id, kind: hop.kind, status: 'fail', latencyMs: null, certificateExpiry: null, detail: noScanner(route.service) });
        continue;
      }
      const local = await handshake(hop.listen, hop.serverName, await tlsOf(route.scanner), timeoutMs);
      if (!local.ok) {
        rows.push({ id: hop.id, kind: hop.kind, status: 'fail', latencyMs: null, certificateExpiry: null, detail: `no TLS at ${hop.listen}: ${local.detail}` });
        continue;
      }
      const { agent, base } = await through(route.service, route.scanner);
      const answer = await get(agent, `${base}${hopHealthPath(hop.id)}`, route.scanner, now, timeoutMs);
      const answered = answer.status === 200 && isRecord(answer.body) && answer.body.hop === hop.id;
      rows.push({
        id: hop.id,
        kind: hop.kind,
        status: answered ? 'ok' : 'fail',
        latencyMs: answer.latencyMs,
        certificateExpiry: local.expiry,
        detail: answered ? `live, reached through ${route.service.chain[0]?.id} as ${route.scanner.id}` : `through the edge: ${answer.detail}`,
      });
    }
    for (const { service, scanner } of probed) {
      if (!scanner) {
        rows.push({ id: service.id, kind: service.kind, status: 'fail', latencyMs: null, certificateExpiry: null, detail: noScanner(service) });
        continue;
      }
      const replicas = replicaAddresses(service);
      if (replicas.length > 1) {
        rows.push(...(await probeReplicas(service, replicas, await tlsOf(scanner), timeoutMs)));
        // Through the chain the last hop picks a replica: the traversal row says the service answers at all.
        const { agent, base } = await through(service, scanner);
        const answer = await get(agent, `${base}/healthz/traversal`, scanner, now, timeoutMs);
        traversal[service.id] = answer.body;
        const ok = answer.status === 200;
        const detail = ok ? `provenance verified over ${service.chain.filter((h) => h.stamp !== false).length} stamping hops, by one of ${replicas.length} replicas` : `traversal check: ${answer.detail}`;
        rows.push({ id: service.id, kind: service.kind, status: ok ? 'ok' : 'fail', latencyMs: answer.latencyMs, certificateExpiry: null, detail });
        continue;
      }
      const local = await handshake(service.listen, service.serverName, await tlsOf(scanner), timeoutMs);
      const { agent, base } = await through(service, scanner);
      const answer = await get(agent, `${base}/healthz/traversal`, scanner, now, timeoutMs);
      traversal[service.id] = answer.body;
      const ok = local.ok && answer.status === 200;
      const detail = !local.ok
        ? `no TLS at ${service.listen}: ${local.detail}`
        : ok
          ? `provenance verified over ${service.chain.filter((h) => h.stamp !== false).length} stamping hops`
          : `traversal check: ${answer.detail}`;
      rows.push({ id: service.id, kind: service.kind, status: ok ? 'ok' : 'fail', latencyMs: answer.latencyMs, certificateExpiry: local.ok ? local.expiry : null, detail });
    }
  } finally {
    await Promise.all([...agents.values()].map((a) => a.close()));
  }
  return { ok: rows.length > 0 && rows.every((r) => r.status === 'ok'), rows, traversal };
}

/**
 * One row per replica of a service (docs/topology.md#replicas), `<id>#<N>`: a verified TLS
 * handshake at its own address, so a stopped replica is red even while the last hop routes around it.
 */
async function probeReplicas(service: ResolvedService, replicas: readonly string[], tls: ClientTls, timeoutMs: number): Promise<ProbeRow[]> {
  return Promise.all(
    replicas.map(async (address, n): Promise<ProbeRow> => {
      const started = performance.now();
      const local = await handshake(address, service.serverName, tls, timeoutMs);
      const latencyMs = Math.round((performance.now() - started) * 10) / 10;
      return local.ok
        ? { id: `${service.id}#${n}`, kind: service.kind, status: 'ok', latencyMs, certificateExpiry: local.expiry, detail: `replica ${n} at ${address}: TLS verified as ${service.serverName}` }
        : { id: `${service.id}#${n}`, kind: service.kind, status: 'fail', latencyMs: null, certificateExpiry: null, detail: `replica ${n}: no TLS at ${address}: ${local.detail}` };
    }),
  );
}

function noScanner(service: ResolvedService): string {
  return `no scanner of the topology sends to ${service.chain[0]?.id ?? '?'}, the edge of ${service.id}`;
}

interface Answer {
  status: number | null;
  body: unknown;
  latencyMs: number | null;
  detail: string;
}

async function get(agent: Agent, url: string, scanner: ResolvedScanner, now: () => number, timeoutMs: number): Promise<Answer> {
  const started = performance.now();
  try {
    const res = await request(url, {
      dispatcher: agent,
      headers: { [WIRE_HEADERS.scanId]: `probe-${scanner.id}-${Math.floor(now() / 1000)}` },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const text = await res.body.text();
    const latencyMs = Math.round((performance.now() - started) * 10) / 10;
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text for the detail column
    }
    const code = isRecord(body) && typeof body.code === 'string' ? ` ${body.code}` : '';
    return { status: res.statusCode, body, latencyMs, detail: `HTTP ${res.statusCode}${code}` };
  } catch (error) {
    return { status: null, body: null, latencyMs: null, detail: (error as Error).message };
  }
}

/** A verified TLS handshake with the scanner's certificate; returns the peer certificate's expiry. */
async function handshake(listen: string, servername: string, tls: ClientTls, timeoutMs: number): Promise<{ ok: true; expiry: string } | { ok: false; detail: string }> {
  // The socket call takes an IPv6 host without brackets, as parseHostPort returns it.
  const { host, port } = parseHostPort(listen);
  return new Promise((resolve) => {
    const socket = connect({ host, port, ...tls, servername, timeout: timeoutMs }, () => {
      const peer = socket.getPeerCertificate();
      socket.destroy();
      resolve({ ok: true, expiry: new Date(peer.valid_to).toISOString() });
    });
    socket.once('error', (error) => resolve({ ok: false, detail: error.message }));
    socket.once('timeout', () => {
      socket.destroy();
      resolve({ ok: false, detail: `timeout after ${timeoutMs} ms` });
    });
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
