/**
 * The deployments the chain benches measure (bench/README.md#the-benches): the reference chain,
 * the same without the WAF and the Caddy + forward-auth stamper edge, started side by side from
 * examples/, each readied with an agent through its edge and one straight to its service.
 */
import { cp, readFile } from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'undici';
import { CADDY_TOPOLOGY, REFERENCE_TOPOLOGY, startChain, type Chain } from '../test/support/chain.js';
import { trafficContext, type TrafficContext } from './traffic.js';

const SERVICE = 'evidence-locker';

/** examples/topology.yaml without the WAF: NGINX edge → HAProxy → locker. */
export function dropWaf(document: Record<string, unknown>): void {
  const hops = (document.hops as Record<string, unknown>[]).filter((h) => h.id !== 'waf');
  hops[0]!.next = 'gw-internal';
  document.hops = hops;
}

/** A started chain with its agents: through its edge, and straight to its service. */
export interface Target {
  label: string;
  chain: Chain;
  ctx: TrafficContext;
  edge: Agent;
  direct: Agent;
  edgeOrigin: string;
  directOrigin: string;
}

/** Readies a started chain for measurement. */
export async function target(label: string, chain: Chain): Promise<Target> {
  const ctx = await trafficContext(chain.topology, SERVICE);
  const service = ctx.service;
  const last = service.chain.at(-1)!;
  const [ca, cert, key] = await Promise.all([readFile(chain.topology.pki.caBundle), readFile(last.upstreamTls.chain), readFile(last.upstreamTls.key)]);
  return {
    label,
    chain,
    ctx,
    edge: await chain.scannerAgent(),
    direct: new Agent({ connect: { ca, cert, key, servername: service.serverName } }),
    edgeOrigin: chain.edgeUrl(),
    directOrigin: `https://${service.listen}`,
  };
}

/**
 * Runs `work` with TMPDIR pointing at a fresh folder under /var/tmp, then removes the folder.
 * Deployments live there: during a run on the shared machine, folders named /tmp/stella-* vanished
 * under a running chain (someone's cleanup), taking its key files along.
 */
export async function inOwnTmp<T>(prefix: string, work: () => Promise<T>): Promise<T> {
  const ownTmp = mkdtempSync(join('/var/tmp', prefix));
  const savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = ownTmp;
  try {
    return await work();
  } finally {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    rmSync(ownTmp, { recursive: true, force: true });
  }
}

/** The three deployments, readied. */
export interface BenchChains {
  reference: Target;
  noWaf: Target;
  caddy: Target;
}

/**
 * Starts the three deployments, runs `measure` on them and stops them. When `measure` fails,
 * every deployment's folder (gateway, stamper and locker logs) is kept under /var/tmp first and
 * named on stderr.
 */
export async function withBenchChains<T>(bench: string, measure: (chains: BenchChains) => Promise<T>): Promise<T> {
  return inOwnTmp(`stella-bench-${bench}-`, async () => {
    const chains: Chain[] = [];
    const targets: Target[] = [];
    try {
      chains.push(await startChain(REFERENCE_TOPOLOGY));
      chains.push(await startChain(REFERENCE_TOPOLOGY, { edit: dropWaf }));
      chains.push(await startChain(CADDY_TOPOLOGY));
      targets.push(
        ...(await Promise.all([
          target('NGINX → WAF → HAProxy', chains[0]!),
          target('NGINX → HAProxy', chains[1]!),
          target('Caddy+stamper → WAF → HAProxy', chains[2]!),
        ])),
      );
      return await measure({ reference: targets[0]!, noWaf: targets[1]!, caddy: targets[2]! });
    } catch (error) {
      for (const [i, chain] of chains.entries()) {
        const kept = join('/var/tmp', `stella-bench-${bench}-failure-${process.pid}-${i}`);
        await cp(chain.workDir, kept, { recursive: true, filter: (src) => !src.includes('node_modules') }).catch(() => undefined);
        process.stderr.write(`${bench} bench: logs of deployment ${i} kept in ${kept}\n`);
      }
      throw error;
    } finally {
      await Promise.all(targets.map((t) => t.direct.close()));
      for (const chain of chains) await chain.close();
    }
  });
}
