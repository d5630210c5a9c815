/**
 * What the guard costs a registry pull (docs/services.md#the-guard), on the real programs: a
 * scanner pulls a 32 MiB blob through NGINX → Apache+CRS → HAProxy → guard → docker-registry,
 * against the same pull through the same chain whose HAProxy forwards straight to the registry (a
 * second deployment, its rendered HAProxy config pointed at the registry). Both sides stream the
 * blob and hash it as the scanner would. Also the guard's peak RSS above idle while it streams.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Agent, request, type Dispatcher } from 'undici';
import { RegistryClient } from '../src/registry/client.js';
import { EXAMPLES, startChain, type Chain } from '../test/support/chain.js';
import { contentDigest } from '../src/scanner/http.js';
import { inOwnTmp } from './deployments.js';
import { compare, machineInfo, type BenchResult, type BenchRow } from './support.js';

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

/**
 * One push of the blob through a chain's edge: POST an upload, PUT the bytes with `?digest=` and
 * `Content-Digest` (the guard spools and checks them before the registry gets a byte). Each push
 * uploads again; the registry keeps one copy.
 */
function push(origin: string, servername: string, agent: Dispatcher, blob: Buffer, digest: string): () => Promise<void> {
  const host = `${servername}:${new URL(origin).port}`;
  const empty = Buffer.alloc(0);
  return async () => {
    const started = await request(`${origin}/v2/${REPOSITORY}/blobs/uploads/`, { method: 'POST', dispatcher: agent, headers: { host, 'x-stella-scan-id': 'bench-push', 'content-digest': contentDigest(empty) }, body: empty });
    await started.body.dump();
    const location = new URL(String(started.headers.location), 'https://x.invalid');
    location.searchParams.set('digest', digest);
    const put = await request(`${origin}${location.pathname}${location.search}`, {
      method: 'PUT',
      dispatcher: agent,
      headers: { host, 'x-stella-scan-id': 'bench-push', 'content-type': 'application/octet-stream', 'content-digest': contentDigest(blob) },
      body: blob,
    });
    const text = await put.body.text();
    if (started.statusCode !== 202 || put.statusCode !== 201) throw new Error(`push answered ${started.statusCode} then ${put.statusCode}: ${text.slice(0, 200)}`);
  };
}

/** Room for the 32 MiB blob on every hop and at the guard (default limits are 16 MiB). */
function roomForBlob(document: Record<string, unknown>): void {
  for (const hop of document.hops as Record<string, unknown>[]) hop.limits = { maxBodyBytes: 2 * BLOB_BYTES };
  for (const service of document.services as Record<string, unknown>[]) service.maxBodyBytes = 2 * BLOB_BYTES;
}

/** VmRSS / VmHWM of a process, in bytes (Linux /proc). */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

function figures(row: BenchRow, idle: number, peakAboveIdle: number): void {
  const mib = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;
  row.extra = {
    MiBPerSecond: mib(row.opsPerSecond * BLOB_BYTES),
    baselineMiBPerSecond: mib(row.baselineOpsPerSecond * BLOB_BYTES),
    guardIdleRssMiB: mib(idle),
    // VmHWM is synced lazily, so a peak a few pages below the RSS read just before reads as 0.
    guardPeakAboveIdleMiB: mib(Math.max(0, peakAboveIdle)),
  };
}

export async function run(): Promise<BenchResult> {
  const loadBefore = loadavg()[0]!;
  // Deployments under /var/tmp, as the chain benches do (shared-machine /tmp cleanups).
  return inOwnTmp('stella-bench-registry-', async () => {
    const chains: Chain[] = [];
    try {
      const topology = join(EXAMPLES, 'topology-registry.yaml');
      const guarded = await startChain(topology, { edit: roomForBlob });
      chains.push(guarded);
      const bare = await startChain(topology, { edit: roomForBlob });
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
      figures(row, idle, peakAboveIdle);

      const pushWithGuard = push(guarded.edgeUrl(), guarded.edgeServerName(), await guarded.scannerAgent(), blob, digest);
      const pushWithoutGuard = push(bare.edgeUrl(), bare.edgeServerName(), await bare.scannerAgent(), blob, digest);
      await pushWithGuard();
      await pushWithoutGuard();
      writeFileSync(`/proc/${guardPid}/clear_refs`, '5');
      const pushIdle = memoryOf(guardPid).rss;
      const pushRow = await compare('push 32 MiB blob: chain with guard vs chain without, 1 conn', pushWithGuard, pushWithoutGuard, { rounds: 5, roundMs: 1_000, warmupMs: 500 });
      const pushPeakAboveIdle = memoryOf(guardPid).peak - pushIdle;
      figures(pushRow, pushIdle, pushPeakAboveIdle);
      return {
        name,
        description:
          'Subject: a scanner pulls (and, second row, pushes) a 32 MiB blob (streamed, hashed) through NGINX → Apache+ModSecurity+CRS → HAProxy → the guard → docker-registry. Baseline: the same pull through the same kind of chain whose HAProxy forwards straight to docker-registry. The ratio is what the guard costs a pull. guardPeakAboveIdleMiB: the guard process\'s VmHWM during the measured pulls minus its VmRSS just before.',
        date: new Date().toISOString(),
        machine: machineInfo(),
        rows: [row, pushRow],
        notes: [
          `Target ratio ≥ ${RATIO_TARGET}: ${row.ratio >= RATIO_TARGET ? 'met' : 'missed'} (${row.ratio.toFixed(3)}).`,
          `Target guard peak < ${RSS_TARGET_BYTES / 2 ** 20} MiB above idle while streaming: ${peakAboveIdle < RSS_TARGET_BYTES ? 'met' : 'missed'} (${(peakAboveIdle / 2 ** 20).toFixed(1)} MiB).`,
          `Push (no target; the guard spools the body to a file while hashing it and forwards it only once Content-Digest matched, docs/services.md#the-guard): ratio ${pushRow.ratio.toFixed(3)}, guard peak ${(Math.max(0, pushPeakAboveIdle) / 2 ** 20).toFixed(1)} MiB above idle. Both sides cross the WAF, which buffers the whole body before forwarding.`,
          'Both deployments (two chains, two registries, the guard, the load generator) share the same 2 cores.',
          `1-minute load average ${loadBefore.toFixed(1)} before and ${loadavg()[0]!.toFixed(1)} after the run.`,
        ],
      };
    } finally {
      for (const chain of chains) await chain.close();
    }
  });
}
