/**
 * What provenance v2 costs the gateways that stamp it through the forward-auth stamper (issue 19:
 * "each gateway's stamping rate v2 vs v1 in the same run"; docs/provenance.md#v2-the-forward-auth-stamper,
 * docs/provenance.md#part-2-version-2), on the real programs: the same scanner requests through an
 * NGINX edge (`auth_request`) and a Caddy edge (`forward_auth`) whose stamper process signs v2
 * (Ed25519, ECDSA P-256, or v1 + v2 Ed25519 for `profile: both`), against the same gateway stamping
 * v1 the way it does today (NGINX natively; Caddy through its stamper, its only way). Every edge
 * has its own stamper process and mTLS Node upstream; all run side by side and the rounds
 * alternate. Envoy stamps through the same stamper but cannot run on this machine
 * (docs/gateways/envoy.md), so it has no row.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { renderCaddyHop } from '../src/gateways/caddy/index.js';
import { renderNginxHop } from '../src/gateways/nginx/index.js';
import { startHop, type RunningGateway } from '../src/gateways/runtime.js';
import { cliInvocation, spawnManaged, waitUntil, type ManagedProcess } from '../src/io/process.js';
import type { TopologyInput } from '../src/topology/schema.js';
import { portsFor } from '../test/support/programs.js';
import { createDeployment, exampleDocument, type Deployment } from '../test/gateways/support/deployment.js';
import { writeRendered } from '../test/gateways/support/run.js';
import { startRecordingUpstream, type RecordingUpstream } from '../test/gateways/support/upstream.js';
import { compareLoad, type LoadOptions, type Prepare } from './load.js';
import { machineInfo, type BenchResult, type BenchRow } from './support.js';

/** The bench's name (bench/results/stamper-v2.json). */
export const name = 'stamper-v2';

type Stamp = Exclude<TopologyInput['hops'][number]['stamp'], false>;
type Kind = 'nginx' | 'caddy';

/** One way an edge stamps: the hop's `stamp` given the example's v1 keys and the stamper's socket. */
interface Profile {
  readonly label: string;
  readonly version: 'v1' | 'v2' | 'both';
  readonly stamp: (v1: Stamp, stamper: Stamp['stamper']) => Stamp;
}

const signing = (alg: 'ed25519' | 'ecdsa-p256-sha256'): Stamp['signing'] => ({ alg, keys: [{ kid: 'edge-v2', file: './keys/gw-edge.v2.pem', publicFile: './keys/gw-edge.v2.pub.pem' }] });

const NATIVE_V1: Profile = { label: 'v1 native', version: 'v1', stamp: (v1) => v1 };
const STAMPER_V1: Profile = { label: 'v1 stamper', version: 'v1', stamp: (v1, stamper) => ({ ...v1, via: 'forward-auth', stamper }) };
const STAMPER_V2: Profile[] = [
  { label: 'v2 Ed25519 stamper', version: 'v2', stamp: (_v1, stamper) => ({ via: 'forward-auth', profile: 'v2', stamper, signing: signing('ed25519') }) },
  { label: 'v2 ECDSA P-256 stamper', version: 'v2', stamp: (_v1, stamper) => ({ via: 'forward-auth', profile: 'v2', stamper, signing: signing('ecdsa-p256-sha256') }) },
  { label: 'both (v1 + v2 Ed25519) stamper', version: 'both', stamp: (v1, stamper) => ({ ...v1, via: 'forward-auth', profile: 'both', stamper, signing: signing('ed25519') }) },
];

interface Edge {
  readonly label: string;
  readonly deployment: Deployment;
  readonly socketDir: string | undefined;
  readonly stamper: ManagedProcess | undefined;
  readonly upstream: RecordingUpstream;
  readonly gateway: RunningGateway;
  readonly agent: Agent;
  readonly origin: string;
  /** Whether a request arrived stamped as this profile stamps. */
  stamped(headers: Record<string, unknown>): boolean;
}

/** GET /healthz/live on the stamper's socket, the way its gateway reaches it. */
async function stamperIsLive(socket: string): Promise<boolean> {
  const agent = new Agent({ connect: { socketPath: socket } });
  try {
    const res = await request('http://stamper/healthz/live', { dispatcher: agent, headersTimeout: 2_000 });
    await res.body.dump();
    return res.statusCode === 200;
  } finally {
    await agent.close();
  }
}

/** One edge of `kind` stamping as `profile` in front of its own mTLS upstream, with its stamper when it has one. */
async function startEdge(kind: Kind, profile: Profile): Promise<Edge> {
  const { edge: edgePort, service: servicePort } = await portsFor('edge', 'service');
  // NGINX started as root runs its workers as nobody: they must reach the socket, so its folder is
  // outside the 0700 deployment folder and the stamper hands the socket to nobody (docs/gateways/nginx.md).
  const socketDir = kind === 'nginx' ? mkdtempSync(join(tmpdir(), 'stella-bench-fa-')) : undefined;
  if (socketDir) chmodSync(socketDir, 0o755);
  const stamperAt: Stamp['stamper'] = socketDir ? { socket: join(socketDir, 'run', 'stamper.sock'), gatewayUser: 'nobody' } : { socket: './run/gw-edge/stamper.sock' };
  const doc = exampleDocument();
  const v1 = doc.hops[0]!;
  if (v1.stamp === false) throw new Error('the example edge stamps');
  const stamp = profile.stamp(v1.stamp, stamperAt);
  doc.hops = [{ ...v1, kind, listen: `127.0.0.1:${edgePort}`, next: 'evidence-locker', stamp }];
  doc.services = doc.services.map((s) => ({ ...s, listen: `127.0.0.1:${servicePort}` }));
  const deployment = await createDeployment(doc);
  const { topology } = deployment;
  const hop = topology.hops[0]!;
  const outDir = join(deployment.dir, 'out');
  const parts: { stamper?: ManagedProcess; upstream?: RecordingUpstream } = {};
  try {
    writeRendered(outDir, (kind === 'nginx' ? renderNginxHop : renderCaddyHop)(topology, hop, { outDir }));
    parts.upstream = await startRecordingUpstream(servicePort, topology.services[0]!.tls, topology.pki.caBundle);
    if (stamp.via === 'forward-auth') {
      const socket = hop.stamp !== false && hop.stamp.stamper && 'socket' in hop.stamp.stamper ? hop.stamp.stamper.socket : undefined;
      if (!socket) throw new Error(`${kind} ${profile.label}: the stamper has no socket`);
      const logs = join(deployment.dir, 'logs');
      mkdirSync(logs, { recursive: true });
      const cli = cliInvocation(['stamper', '--topology', join(deployment.dir, 'topology.yaml'), '--hop', hop.id]);
      parts.stamper = spawnManaged(`stamper-${kind}-${profile.label}`, cli.command, cli.args, { logFile: join(logs, 'stamper.log'), cwd: deployment.dir });
      await waitUntil(parts.stamper, () => stamperIsLive(socket), 30_000, `stamper of the ${kind} edge (${profile.label})`);
    }
    const gateway = await startHop(topology, hop, join(outDir, hop.id), { readyTimeoutMs: 30_000 });
    const scanner = topology.scanners[0]!.tls;
    const agent = new Agent({ connect: { ca: readFileSync(topology.pki.caBundle), cert: readFileSync(scanner.chain), key: readFileSync(scanner.key), servername: hop.serverName } });
    const v1Stamped = (h: Record<string, unknown>): boolean => String(h['x-stella-provenance']).startsWith('gw-edge;');
    const v2Stamped = (h: Record<string, unknown>): boolean => String(h['signature-input']).includes('stella-1-gw-edge=') && typeof h.signature === 'string';
    const stamped = { v1: v1Stamped, v2: v2Stamped, both: (h: Record<string, unknown>) => v1Stamped(h) && v2Stamped(h) }[profile.version];
    return { label: `${kind === 'nginx' ? 'NGINX' : 'Caddy'} ${profile.label}`, deployment, socketDir, stamper: parts.stamper, upstream: parts.upstream, gateway, agent, origin: `https://127.0.0.1:${edgePort}`, stamped };
  } catch (error) {
    await parts.stamper?.stop();
    await parts.upstream?.close();
    deployment.remove();
    if (socketDir) rmSync(socketDir, { recursive: true, force: true });
    throw error;
  }
}

async function stopEdge(edge: Edge): Promise<void> {
  await edge.agent.close();
  await edge.gateway.stop();
  await edge.stamper?.stop();
  await edge.upstream.close();
  edge.deployment.remove();
  if (edge.socketDir) rmSync(edge.socketDir, { recursive: true, force: true });
}

let sent = 0;

/** Requests through one edge; every answer must be 200 (the upstream's records are checked after the run). */
function through(edge: Edge): Prepare {
  return async (count) =>
    Array.from({ length: count }, () => {
      const url = `${edge.origin}/api/v1/scans?n=${sent++}`;
      return async () => {
        const response = await request(url, { dispatcher: edge.agent, headers: { 'x-stella-scan-id': 'scan:bench' } });
        await response.body.arrayBuffer();
        if (response.statusCode !== 200) throw new Error(`${edge.label} ${url}: HTTP ${response.statusCode}`);
      };
    });
}

// About a second per side and round (0.5–2 s on this machine), six alternating rounds per row.
const LATENCY: LoadOptions = { concurrency: 1, rounds: 6, requestsPerRound: 400, warmupRequests: 60 };
const THROUGHPUT: LoadOptions = { concurrency: 8, rounds: 6, requestsPerRound: 1000, warmupRequests: 120 };

/** Each gateway's baseline (v1 as it stamps today) and the stamper profiles measured against it. */
const PLAN: readonly { kind: Kind; baseline: Profile; subjects: readonly Profile[] }[] = [
  { kind: 'nginx', baseline: NATIVE_V1, subjects: [STAMPER_V1, ...STAMPER_V2] },
  { kind: 'caddy', baseline: STAMPER_V1, subjects: STAMPER_V2 },
];

/** Starts every edge, measures each subject against its gateway's v1 edge at 1 and 8 connections, stops them. */
export async function run(): Promise<BenchResult> {
  const loadBefore = loadavg()[0]!;
  const edges: Edge[] = [];
  const rows: BenchRow[] = [];
  try {
    for (const { kind, baseline, subjects } of PLAN) {
      const v1 = await startEdge(kind, baseline);
      edges.push(v1);
      for (const profile of subjects) edges.push(await startEdge(kind, profile));
      for (const edge of edges.slice(-subjects.length)) {
        rows.push(await compareLoad(`${edge.label} vs ${v1.label}: GET, 1 conn`, through(edge), through(v1), LATENCY));
        rows.push(await compareLoad(`${edge.label} vs ${v1.label}: GET, 8 conns`, through(edge), through(v1), THROUGHPUT));
      }
    }
    for (const edge of edges) {
      const api = edge.upstream.received.filter((r) => r.url.startsWith('/api/'));
      const unstamped = api.filter((r) => !edge.stamped(r.headers)).length;
      if (api.length === 0 || unstamped > 0) throw new Error(`${edge.label}: ${unstamped} of ${api.length} requests reached the upstream without the stamp`);
    }
  } finally {
    for (const edge of edges) await stopEdge(edge);
  }
  return {
    name,
    description:
      'Subject: a scanner\'s GET requests through a real NGINX edge (auth_request) or Caddy edge (forward_auth) whose forward-auth stamper process stamps provenance v2 (Ed25519, ECDSA P-256, or "both": v1 + v2 Ed25519), and for NGINX also v1 through the stamper. Baseline: the same requests through the same gateway stamping v1 as it does by default (NGINX natively, Caddy through its stamper). Each edge has its own stamper and mTLS Node upstream; all run side by side, rounds alternate. Every request is checked to have arrived stamped. Envoy stamps through the same stamper but cannot run on this machine: no row.',
    date: new Date().toISOString(),
    machine: machineInfo(),
    rows,
    notes: [
      'Client, gateway, stamper and upstream share the same 2 cores, so a ratio understates what signing alone costs; compare rows of one run only.',
      'NGINX rows are all against native v1: "v1 stamper" is the forward-auth round trip alone, the v2 rows add the signature to it.',
      'Envoy: not measured (no envoy binary runs here, docs/gateways/envoy.md); its stamper is the same process as Caddy\'s and NGINX\'s.',
      `1-minute load average ${loadBefore.toFixed(1)} before and ${loadavg()[0]!.toFixed(1)} after the run.`,
    ],
  };
}
