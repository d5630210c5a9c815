/**
 * Makes a runnable deployment folder from a topology file: a copy of the topology (optionally on
 * free loopback ports), then what `pki bootstrap` makes of it (src/deploy/bootstrap.ts): a PKI
 * with every leaf the topology names, and every missing key file.
 * The demo, the E2E harness, the probe tests and the benchmarks all start from here.
 *
 * Idempotent: what already exists (CA, leaves, keys) is kept, so a `--keep` deployment can be
 * restarted with the same identities.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join, resolve as resolvePath } from 'node:path';
import { parse, stringify } from 'yaml';
import { loadTopology } from '../topology/load.js';
import type { ResolvedTopology } from '../topology/resolve.js';
import { bootstrapTopology } from './bootstrap.js';

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
  await bootstrapTopology(await loadTopology(topologyFile), options.leafTtlSeconds ? { leafTtlSeconds: options.leafTtlSeconds } : {});
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
  // Service replicas (docs/topology.md#replicas) move too, each to a port of its own.
  const replicated = listeners.filter((entry) => Array.isArray(entry.replicas));
  const ports = await freePorts(moved.length + replicated.reduce((n, entry) => n + (entry.replicas as unknown[]).length, 0));
  moved.forEach((entry, i) => (entry.listen = `127.0.0.1:${ports[i]}`));
  let next = moved.length;
  for (const entry of replicated) entry.replicas = (entry.replicas as unknown[]).map(() => `127.0.0.1:${ports[next++]}`);
}
