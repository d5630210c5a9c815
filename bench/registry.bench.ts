/**
 * What the guard costs a registry pull (docs/services.md#the-guard), on the real programs: a
 * scanner pulls a 32 MiB blob through NGINX → Apache+CRS → HAProxy → guard → docker-registry,
 * against the same pull through the same chain whose HAProxy forwards straight to the registry (a
 * second deployment, its rendered HAProxy config pointed at the registry). Both sides stream the
 * blob and hash it as the scanner would. Also the guard's peak RSS above idle while it streams.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Agent, request, type Dispatcher } from 'undici';
import { RegistryClient } from '../src/registry/client.js';
import { EXAMPLES, startChain, type Chain } from '../test/e2e/support/harness.js';
import { compare, machineInfo, type BenchResult } from './support.js';

/** The bench's name (bench/results/registry.json). */
export const name = 'registry';

const REPOSITORY = 'bench/blob';
const BLOB_BYTES = 32 * 1024 * 1024;
const RATIO_TARGET = 0.8;
const RSS_TARGET_BYTES = 64 * 1024 * 1024;

/** Publishes the blob straight to the registry of a chain, with the service's own certificate. */
async function publish(chain: Chain, blob: Buffer): Promise<string> {
  const service = chain.topology.services[0]!;
  const [ca, cert, key] = await Promise.all([readFile(chain.topology.pki.caBundle), readFile(service.tls.chain), readFile(service.tls.key)]);
  const agent = new Agent({ connect: { ca, cert, key, servername: service.serverName } });
  try {
    const client = new RegistryClient({ dispatcher: agent, endpoint: { origin: `https://${service.registry!.listen}`, servername: service.serverName }, scanId: 'bench-publish' });
    return await client.pushBlob(REPOSITORY, blob);
  } finally {
    await agent.close();
  }
}

/** Points the last hop (HAProxy) of a running chain at the registry itself, bypassing the guard. */
async function bypassGuard(chain: Chain): Promise<void> {
  const service = chain.topology.services[0]!;
  const last = service.chain.at(-1)!;
  const file = join(chain.deployment.gatewaysDir, last.id, 'haproxy.cfg');
  const config = readFileSync(file, 'utf8');
  const edited = config
    .replace(` ${service.listen} `, ` ${service.registry!.listen} `)
    // The registry has no /healthz/ready; its own liveness route is /v2/.
    .replace('uri /healthz/ready', 'uri /v2/');
  if (edited === config) throw new Error(`${file}: no server line for ${service.listen}`);
  writeFileSync(file, edited);
  await chain.deployment.restartGateway(last.id);
}

/** One pull of the blob through a chain's edge, streamed and hashed; fails on any other digest. */
function pull(origin: string, servername: string, agent: Dispatcher, digest: string): () => Promise<void> {
  const host = `${servername}:${new URL(origin).port}`;
  return async () => {
    const res = await request(`${origin}/v2/${REPOSITORY}/blobs/${digest}`, { dispatcher: agent, headers: { host, 'x-stella-scan-id': 'bench-pull' } });
    const hash = createHash('sha256');
    for await (const chunk of res.body) hash.update(chunk as Buffer);
    if (res.statusCode !== 200 || `sha256:${hash.digest('hex')}` !== digest) throw new Error(`pull answered ${res.statusCode} or another blob`);
  };
}

/** VmRSS / VmHWM of a process, in bytes (Linux /proc). */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

export async function run(): Promise<BenchResult> {
  const loadBefore = loadavg()[0]!;
  // Deployments under /var/tmp, as the chain bench does (shared-machine /tmp cleanups).
  const ownTmp = mkdtempSync(join('/var/tmp', 'stella-bench-registry-'));
  const savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = ownTmp;
  const chains: Chain[] = [];
  try {
    const topology = join(EXAMPLES, 'topology-registry.yaml');
    const guarded = await startChain(topology);
    chains.push(guarded);
    const bare = await startChain(topology);
    chains.push(bare);
    const blob = randomBytes(BLOB_BYTES);
    const digest = await publish(guarded, blob);
    await publish(bare, blob);
    await bypassGuard(bare);

    const guardPid = guarded.deployment.services.get(guarded.topology.services[0]!.id)!.pid;
    const withGuard = pull(guarded.edgeUrl(), guarded.edgeServerName(), await guarded.scannerAgent(), digest);
    const withoutGuard = pull(bare.edgeUrl(), bare.edgeServerName(), await bare.scannerAgent(), digest);
    await withGuard();
    await withoutGuard();
    // Reset the guard's high-water mark (proc(5) clear_refs "5") so the peak is the pulls' own.
    writeFileSync(`/proc/${guardPid}/clear_refs`, '5');
    const idle = memoryOf(guardPid).rss;
    const row = await compare('pull 32 MiB blob: chain with guard vs chain without, 1 conn', withGuard, withoutGuard, { rounds: 5, roundMs: 1_000, warmupMs: 500 });
    const peakAboveIdle = memoryOf(guardPid).peak - idle;
    row.extra = {
      MiBPerSecond: Math.round(((row.opsPerSecond * BLOB_BYTES) / 2 ** 20) * 10) / 10,
      baselineMiBPerSecond: Math.round(((row.baselineOpsPerSecond * BLOB_BYTES) / 2 ** 20) * 10) / 10,
      guardIdleRssMiB: Math.round((idle / 2 ** 20) * 10) / 10,
      guardPeakAboveIdleMiB: Math.round((peakAboveIdle / 2 ** 20) * 10) / 10,
    };
    return {
      name,
      description:
        'Subject: a scanner pulls a 32 MiB blob (streamed, hashed) through NGINX → Apache+ModSecurity+CRS → HAProxy → the guard → docker-registry. Baseline: the same pull through the same kind of chain whose HAProxy forwards straight to docker-registry. The ratio is what the guard costs a pull. guardPeakAboveIdleMiB: the guard process\'s VmHWM during the measured pulls minus its VmRSS just before.',
      date: new Date().toISOString(),
      machine: machineInfo(),
      rows: [row],
      notes: [
        `Target ratio ≥ ${RATIO_TARGET}: ${row.ratio >= RATIO_TARGET ? 'met' : 'missed'} (${row.ratio.toFixed(3)}).`,
        `Target guard peak < ${RSS_TARGET_BYTES / 2 ** 20} MiB above idle while streaming: ${peakAboveIdle < RSS_TARGET_BYTES ? 'met' : 'missed'} (${(peakAboveIdle / 2 ** 20).toFixed(1)} MiB).`,
        'Both deployments (two chains, two registries, the guard, the load generator) share the same 2 cores.',
        `1-minute load average ${loadBefore.toFixed(1)} before and ${loadavg()[0]!.toFixed(1)} after the run.`,
      ],
    };
  } finally {
    for (const chain of chains) await chain.close();
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    rmSync(ownTmp, { recursive: true, force: true });
  }
}
