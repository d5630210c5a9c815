/**
 * The traversal probe (SPEC §9): checks each gateway locally (a verified TLS handshake, its
 * certificate's expiry), reaches each hop through the edge by its health path, and runs the full
 * provenance validation at each service through `/healthz/traversal`.
 */
import { readFile } from 'node:fs/promises';
import { connect } from 'node:tls';
import { Agent, request } from 'undici';
import { hopHealthPath } from '../gateways/types.js';
import { splitListen } from '../gateways/chain.js';
import type { ResolvedScanner, ResolvedTopology } from '../topology/resolve.js';

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
  /** Which scanner's certificate to present; default the first. */
  readonly scannerId?: string;
  readonly timeoutMs?: number;
  readonly now?: () => number;
}

/**
 * Probes the whole topology.
 *
 * @example
 * const result = await probeTopology(await loadTopology('topology.yaml'));
 * if (!result.ok) process.exitCode = 1;
 */
export async function probeTopology(topology: ResolvedTopology, options: ProbeOptions = {}): Promise<ProbeResult> {
  const scanner = options.scannerId ? topology.scanners.find((s) => s.id === options.scannerId) : topology.scanners[0];
  if (!scanner) throw new TypeError(`no scanner ${options.scannerId ?? ''} in the topology`);
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const now = options.now ?? Date.now;
  const [ca, cert, key] = await Promise.all([readFile(topology.pki.caBundle), readFile(scanner.tls.chain), readFile(scanner.tls.key)]);
  // One connection pool per edge: each service is reached through the edge of its own chain.
  const agents = new Map<string, Agent>();
  const through = (edgeId: string): { agent: Agent; base: string } => {
    const edge = topology.hops.find((h) => h.id === edgeId);
    if (!edge) throw new TypeError(`unknown edge ${edgeId}`);
    let agent = agents.get(edge.id);
    if (!agent) agents.set(edge.id, (agent = new Agent({ connect: { ca, cert, key, servername: edge.serverName } })));
    return { agent, base: `https://${edge.listen}` };
  };
  const rows: ProbeRow[] = [];
  const traversal: Record<string, unknown> = {};
  try {
    for (const hop of topology.hops) {
      const local = await handshake(hop.listen, hop.serverName, { ca, cert, key }, timeoutMs);
      if (!local.ok) {
        rows.push({ id: hop.id, kind: hop.kind, status: 'fail', latencyMs: null, certificateExpiry: null, detail: `no TLS at ${hop.listen}: ${local.detail}` });
        continue;
      }
      const service = topology.services.find((s) => s.chain.includes(hop));
      const { agent, base } = through(service?.chain[0]?.id ?? scanner.edge);
      const answer = await get(agent, `${base}${hopHealthPath(hop.id)}`, scanner, now, timeoutMs);
      const answered = answer.status === 200 && isRecord(answer.body) && answer.body.hop === hop.id;
      rows.push({
        id: hop.id,
        kind: hop.kind,
        status: answered ? 'ok' : 'fail',
        latencyMs: answer.latencyMs,
        certificateExpiry: local.expiry,
        detail: answered ? 'live, reached through the chain' : `through the edge: ${answer.detail}`,
      });
    }
    for (const service of topology.services) {
      const local = await handshake(service.listen, service.serverName, { ca, cert, key }, timeoutMs);
      const { agent, base } = through(service.chain[0]?.id ?? scanner.edge);
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
  return { ok: rows.every((r) => r.status === 'ok'), rows, traversal };
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
      headers: { 'x-stella-scan-id': `probe-${scanner.id}-${Math.floor(now() / 1000)}` },
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
async function handshake(listen: string, servername: string, tls: { ca: Buffer; cert: Buffer; key: Buffer }, timeoutMs: number): Promise<{ ok: true; expiry: string } | { ok: false; detail: string }> {
  const { host, port } = splitListen(listen);
  return new Promise((resolve) => {
    const socket = connect({ host: host.replace(/^\[|\]$/g, ''), port, ...tls, servername, timeout: timeoutMs }, () => {
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
