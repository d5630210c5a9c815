/**
 * Makes a runnable deployment folder from a topology file: a copy of the topology (optionally on
 * free loopback ports), a PKI with every leaf the topology names, and every missing key file.
 * The demo, the E2E harness, the probe tests and the benchmarks all start from here.
 *
 * Idempotent: what already exists (CA, leaves, keys) is kept, so a `--keep` deployment can be
 * restarted with the same identities.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { isIP } from 'node:net';
import { parse, stringify } from 'yaml';
import { generateKey } from '../dsse/index.js';
import { initPki, issueCertificate } from '../pki/index.js';
import { loadTopology } from '../topology/load.js';
import type { ResolvedTopology } from '../topology/resolve.js';
import { splitListen } from '../gateways/chain.js';
import { writeFileAtomic } from '../io/atomic-file.js';

/** Options of {@link prepareDeployment}. */
export interface PrepareOptions {
  /** The topology file to start from (its relative paths are re-rooted in `workDir`). */
  readonly topologyFile: string;
  /** The deployment folder; created when missing. */
  readonly workDir: string;
  /** Move every listener (hops, stampers, services, registries) to a free 127.0.0.1 port. Default false. */
  readonly freePorts?: boolean;
  /** Lifetime of the issued leaves; default the PKI's (24 h). */
  readonly leafTtlSeconds?: number;
  /** Edits the topology document before it is written (tests use it to add variants). */
  readonly edit?: (document: Record<string, unknown>) => void;
}

/** A prepared deployment. */
export interface PreparedDeployment {
  readonly workDir: string;
  readonly topologyFile: string;
  readonly topology: ResolvedTopology;
}

/**
 * Prepares a deployment folder.
 *
 * @example
 * const dep = await prepareDeployment({ topologyFile: 'examples/topology.yaml', workDir: '/tmp/demo', freePorts: true });
 * dep.topology.hops.map((h) => h.listen);
 */
export async function prepareDeployment(options: PrepareOptions): Promise<PreparedDeployment> {
  const workDir = resolvePath(options.workDir);
  await mkdir(workDir, { recursive: true });
  const topologyFile = join(workDir, 'topology.yaml');
  if (!existsSync(topologyFile)) {
    const document = parse(await readFile(options.topologyFile, 'utf8')) as Record<string, unknown>;
    if (options.freePorts) await moveToFreePorts(document);
    options.edit?.(document);
    await writeFile(topologyFile, stringify(document), { mode: 0o644 });
  }
  const topology = await loadTopology(topologyFile);
  await ensureKeys(topology);
  await ensurePki(topology, options.leafTtlSeconds);
  return { workDir, topologyFile, topology: await loadTopology(topologyFile, { checkFiles: true }) };
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/**
 * `count` distinct TCP ports that were free on 127.0.0.1 a moment ago. Every socket stays bound
 * until all are: asked one after another, the kernel may hand the port it just got back again
 * (two listeners of one deployment on one address; seen in a test run).
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      ports.push(
        await new Promise<number>((resolve, reject) => {
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => {
            const address = server.address();
            resolve(typeof address === 'object' && address ? address.port : 0);
          });
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()))));
  }
}

async function moveToFreePorts(document: Record<string, unknown>): Promise<void> {
  const listeners: Record<string, unknown>[] = [];
  for (const list of ['hops', 'services'] as const) {
    const entries = document[list];
    if (!Array.isArray(entries)) continue;
    for (const entry of entries as Record<string, unknown>[]) {
      listeners.push(entry);
      const stamp = entry.stamp as Record<string, unknown> | false | undefined;
      const stamper = stamp ? (stamp.stamper as Record<string, unknown> | undefined) : undefined;
      if (stamper) listeners.push(stamper);
      // The registry behind a guard (docs/topology.md#oci-registry).
      const registry = entry.registry as Record<string, unknown> | undefined;
      if (registry) listeners.push(registry);
    }
  }
  const moved = listeners.filter((entry) => typeof entry.listen === 'string');
  const ports = await freePorts(moved.length);
  moved.forEach((entry, i) => (entry.listen = `127.0.0.1:${ports[i]}`));
}

/** Creates every key file the topology names and that does not exist yet. */
async function ensureKeys(topology: ResolvedTopology): Promise<void> {
  const hmac = async (file: string): Promise<void> => {
    if (!existsSync(file)) await writeFileAtomic(file, `${generateKey('hmac-sha256').private}\n`, 0o600);
  };
  for (const hop of topology.hops) {
    if (hop.stamp !== false) for (const key of hop.stamp.keys) await hmac(key.file);
  }
  for (const scanner of topology.scanners) {
    for (const key of scanner.signing.keys) {
      if (existsSync(key.file)) continue;
      if (key.publicFile) {
        const pair = generateKey('ed25519');
        await writeFileAtomic(key.file, pair.private, 0o600);
        await writeFileAtomic(key.publicFile, pair.public ?? '', 0o644);
      } else {
        await hmac(key.file);
      }
    }
  }
  for (const service of topology.services) {
    if (!service.receiptKey || existsSync(service.receiptKey)) continue;
    const pair = generateKey('ed25519');
    await writeFileAtomic(service.receiptKey, pair.private, 0o600);
    await writeFileAtomic(`${service.receiptKey}.pub`, pair.public ?? '', 0o644);
  }
  for (const service of topology.services) {
    if (service.storage?.kind === 'sqlite') await mkdir(dirname(service.storage.file), { recursive: true });
  }
}

/** Creates the CA (when missing) and one leaf per scanner, hop and service (when missing). */
async function ensurePki(topology: ResolvedTopology, ttlSeconds: number | undefined): Promise<void> {
  const dir = topology.pki.dir;
  if (!existsSync(join(dir, 'ca-bundle.pem'))) await initPki({ dir, trustDomain: topology.trustDomain });
  const names = (serverName: string, listen: string): { dns: string[]; ip: string[] } => {
    const host = splitListen(listen).host.replace(/^\[|\]$/g, '');
    return { dns: [serverName], ip: isIP(host) ? [host] : [] };
  };
  const issue = async (role: 'scanner' | 'gateway' | 'service', name: string, certFile: string, san?: { dns: string[]; ip: string[] }): Promise<void> => {
    if (existsSync(certFile)) return;
    await issueCertificate({ dir, role, name, ...san, ...(ttlSeconds ? { ttlSeconds } : {}), out: dirname(certFile) });
  };
  for (const scanner of topology.scanners) await issue('scanner', scanner.id, scanner.tls.cert);
  for (const hop of topology.hops) await issue('gateway', hop.id, hop.tls.cert, names(hop.serverName, hop.listen));
  for (const service of topology.services) await issue('service', service.id, service.tls.cert, names(service.serverName, service.listen));
}
