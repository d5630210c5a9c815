/**
 * What HAProxy's provenance v2 stamping costs (issue 19: "each gateway's stamping rate v2 vs v1 in
 * the same run"), on the real program: the same scanner requests through an HAProxy edge that
 * stamps v2 (the Lua action: ECDSA P-256, or HMAC) against an HAProxy edge that stamps v1 (the
 * native `hmac` converter), each in front of its own small mTLS upstream. Every deployment runs
 * side by side and the rounds alternate, so the ratio is the stamping alone plus whatever the
 * extra header bytes cost.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { haproxyProgram, prepareHaproxyHop, renderHaproxyHop } from '../src/gateways/haproxy/index.js';
import type { TopologyInput } from '../src/topology/schema.js';
import { portsFor } from '../test/support/programs.js';
import { createDeployment, exampleDocument, type Deployment } from '../test/gateways/support/deployment.js';
import { startProgram, writeRendered, type RunningProgram } from '../test/gateways/support/run.js';
import { startRecordingUpstream, type RecordingUpstream } from '../test/gateways/support/upstream.js';
import { compareLoad, type LoadOptions, type Prepare } from './load.js';
import { machineInfo, type BenchResult, type BenchRow } from './support.js';

/** The bench's name (bench/results/haproxy-v2.json). */
export const name = 'haproxy-v2';

type Stamp = Exclude<TopologyInput['hops'][number]['stamp'], false>;

const PROFILES: Record<string, (v1: Stamp) => Stamp> = {
  v1: (v1) => v1,
  'v2 ECDSA P-256': () => ({ via: 'native', profile: 'v2', signing: { alg: 'ecdsa-p256-sha256', keys: [{ kid: 'edge-v2', file: './keys/gw-edge.v2.pem' }] } }),
  'v2 HMAC': () => ({ via: 'native', profile: 'v2', signing: { alg: 'hmac-sha256', keys: [{ kid: 'edge-v2', file: './keys/gw-edge.v2.key' }] } }),
  'both (v1 + v2 ECDSA)': (v1) => ({ ...v1, profile: 'both', signing: { alg: 'ecdsa-p256-sha256', keys: [{ kid: 'edge-v2', file: './keys/gw-edge.v2.pem' }] } }),
};

interface Edge {
  deployment: Deployment;
  upstream: RecordingUpstream;
  program: RunningProgram;
  agent: Agent;
  origin: string;
  /** Whether a request arrived stamped as this profile stamps. */
  stamped: (headers: Record<string, unknown>) => boolean;
}

async function startEdge(label: string, stamp: (v1: Stamp) => Stamp): Promise<Edge> {
  const { edge: edgePort, service: servicePort } = await portsFor('edge', 'service');
  const doc = exampleDocument();
  const v1 = doc.hops[0]!;
  if (v1.stamp === false) throw new Error('the example edge stamps');
  doc.hops = [{ ...v1, kind: 'haproxy', listen: `127.0.0.1:${edgePort}`, next: 'evidence-locker', stamp: stamp(v1.stamp) }];
  doc.services = doc.services.map((s) => ({ ...s, listen: `127.0.0.1:${servicePort}` }));
  const deployment = await createDeployment(doc);
  const { topology } = deployment;
  const hop = topology.hops[0]!;
  const outDir = join(deployment.dir, 'out');
  writeRendered(outDir, renderHaproxyHop(topology, hop, { outDir }));
  const upstream = await startRecordingUpstream(servicePort, topology.services[0]!.tls, topology.pki.caBundle);
  const hopDir = join(outDir, hop.id);
  const program = await startProgram(haproxyProgram.run(hopDir, hop), edgePort, await prepareHaproxyHop(hopDir, hop));
  const scanner = topology.scanners[0]!.tls;
  const agent = new Agent({ connect: { ca: readFileSync(topology.pki.caBundle), cert: readFileSync(scanner.chain), key: readFileSync(scanner.key) } });
  const v2 = label !== 'v1';
  const stamped = (h: Record<string, unknown>): boolean => (v2 ? String(h['signature-input']).includes('stella-1-gw-edge=') : String(h['x-stella-provenance']).startsWith('gw-edge;'));
  return { deployment, upstream, program, agent, origin: `https://127.0.0.1:${edgePort}`, stamped };
}

let sent = 0;

/** Requests through one edge; every answer must be 200 (the upstream checks the stamp after the run). */
function through(edge: Edge): Prepare {
  return async (count) =>
    Array.from({ length: count }, () => {
      const url = `${edge.origin}/api/v1/scans?n=${sent++}`;
      return async () => {
        const response = await request(url, { dispatcher: edge.agent, headers: { 'x-stella-scan-id': 'scan:bench' } });
        await response.body.arrayBuffer();
        if (response.statusCode !== 200) throw new Error(`${url}: HTTP ${response.statusCode}`);
      };
    });
}

const LATENCY: LoadOptions = { concurrency: 1, rounds: 5, requestsPerRound: 150, warmupRequests: 50 };
const THROUGHPUT: LoadOptions = { concurrency: 8, rounds: 5, requestsPerRound: 400, warmupRequests: 100 };

/** Starts one HAProxy edge per profile, measures each v2 edge against the v1 edge, stops them. */
export async function run(): Promise<BenchResult> {
  const loadBefore = loadavg()[0]!;
  const edges = new Map<string, Edge>();
  const rows: BenchRow[] = [];
  try {
    for (const [label, stamp] of Object.entries(PROFILES)) edges.set(label, await startEdge(label, stamp));
    const v1 = edges.get('v1')!;
    for (const [label, edge] of edges) {
      if (edge === v1) continue;
      rows.push(await compareLoad(`HAProxy ${label} vs v1: GET, 1 conn`, through(edge), through(v1), LATENCY));
      rows.push(await compareLoad(`HAProxy ${label} vs v1: GET, 8 conns`, through(edge), through(v1), THROUGHPUT));
    }
    for (const [label, edge] of edges) {
      // HAProxy's own health checks (GET /healthz/ready) reach the upstream unstamped, as they should.
      const unstamped = edge.upstream.received.filter((r) => r.url.startsWith('/api/') && !edge.stamped(r.headers)).length;
      if (unstamped > 0) throw new Error(`${label}: ${unstamped} requests reached the upstream without the stamp`);
    }
  } finally {
    for (const edge of edges.values()) {
      await edge.agent.close();
      await edge.program.stop();
      await edge.upstream.close();
      edge.deployment.remove();
    }
  }
  return {
    name,
    description:
      'Subject: a scanner\'s GET requests through a real HAProxy 2.6 edge stamping provenance v2 with its Lua action (luaossl: ECDSA P-256, or HMAC-SHA256; "both" stamps v1 and v2). Baseline: the same requests through an HAProxy edge stamping v1 with the native hmac converter. Each edge has its own mTLS Node upstream; all run side by side, rounds alternate. Every request is checked to have arrived stamped.',
    date: new Date().toISOString(),
    machine: machineInfo(),
    rows,
    notes: [
      'Client, HAProxy and upstream share the same 2 cores, so a ratio understates what the stamping alone costs HAProxy; compare rows of one run only.',
      `1-minute load average ${loadBefore.toFixed(1)} before and ${loadavg()[0]!.toFixed(1)} after the run.`,
    ],
  };
}
