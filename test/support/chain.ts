/**
 * The chain harness of the E2E and fault tests and the benches (the only one: a test that needs
 * real gateways in front of a real service starts them here): from a topology file, a deployment in a temp folder (PKI, keys, rendered
 * configs), the real gateway programs and the services on free loopback ports, and helpers to
 * talk to the edge as a scanner. Everything is stopped by PID in `close()`, also after a failure.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Agent } from 'undici';
import { prepareDeployment, type PrepareOptions } from '../../src/deploy/prepare.js';
import { startDeployment, type Deployment } from '../../src/deploy/start.js';
import type { ResolvedScanner, ResolvedTopology } from '../../src/topology/resolve.js';
import { requireProgram } from './programs.js';
import { tempDir } from './tmp.js';

export const EXAMPLES = resolve('examples');

/** The programs each hop kind needs; a missing one fails the test with the install command. */
const PROGRAMS: Record<string, string> = { nginx: 'nginx', haproxy: 'haproxy', 'apache-modsecurity': 'apache2', caddy: 'caddy' };

export interface Chain {
  readonly deployment: Deployment;
  readonly topology: ResolvedTopology;
  readonly workDir: string;
  /** `https://<edge listen>` of a scanner's edge. */
  edgeUrl(scannerId?: string): string;
  /** The edge's `serverName` (SNI, certificate name, Host). */
  edgeServerName(scannerId?: string): string;
  /** An undici Agent presenting the scanner's certificate to its edge. */
  scannerAgent(scannerId?: string): Promise<Agent>;
  /** An Agent presenting arbitrary certificate files, verifying the server by `servername`. */
  agentFor(files: { cert: string; key: string }, servername: string): Promise<Agent>;
  scanner(scannerId?: string): ResolvedScanner;
  /** The last lines of every part's logs, for a failure message that explains itself in CI. */
  logTails(): string;
  close(): Promise<void>;
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Starts a whole chain from a topology file of examples/ (or any path). */
export async function startChain(topologyFile: string, options: Partial<PrepareOptions> = {}): Promise<Chain> {
  const dir = tempDir('stella-e2e-');
  const agents: Agent[] = [];
  let deployment: Deployment | undefined;
  try {
    const prepared = await prepareDeployment({ topologyFile, workDir: dir.path, freePorts: true, ...options });
    for (const hop of prepared.topology.hops) {
      const program = PROGRAMS[hop.kind];
      if (program) requireProgram(program);
    }
    deployment = await startDeployment(prepared);
  } catch (error) {
    dir.remove();
    throw error;
  }
  const dep = deployment;
  const topology = dep.topology;
  // A test process ended by a signal (Ctrl-C, a CI timeout) runs no `after` hook: stop every part
  // by PID here, synchronously, then die of the same signal. Removed again by close().
  const onSignal = (signal: NodeJS.Signals): void => {
    const pids = [...dep.gateways.values(), ...dep.services.values(), ...dep.stampers.values(), ...dep.registries.values()].map((p) => p.pid);
    for (const pid of pids) {
      try {
        if (pid > 0) process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    if (!process.env.E2E_KEEP) dir.remove();
    process.kill(process.pid, signal);
  };
  for (const signal of SIGNALS) process.once(signal, onSignal);
  const scanner = (id?: string): ResolvedScanner => {
    const found = id ? topology.scanners.find((s) => s.id === id) : topology.scanners[0];
    if (!found) throw new TypeError(`no scanner ${id ?? ''}`);
    return found;
  };
  const edgeOf = (id?: string) => {
    const s = scanner(id);
    const edge = topology.hops.find((h) => h.id === s.edge);
    if (!edge) throw new TypeError(`no edge for ${s.id}`);
    return edge;
  };
  const agentFor = async (files: { cert: string; key: string }, servername: string): Promise<Agent> => {
    const [ca, cert, key] = await Promise.all([readFile(topology.pki.caBundle), readFile(files.cert), readFile(files.key)]);
    const agent = new Agent({ connect: { ca, cert, key, servername } });
    agents.push(agent);
    return agent;
  };
  return {
    deployment: dep,
    topology,
    workDir: dir.path,
    edgeUrl: (id) => `https://${edgeOf(id).listen}`,
    edgeServerName: (id) => edgeOf(id).serverName,
    scannerAgent: async (id) => agentFor({ cert: scanner(id).tls.chain, key: scanner(id).tls.key }, edgeOf(id).serverName),
    agentFor,
    scanner,
    logTails: () => logTails(dep),
    async close() {
      for (const signal of SIGNALS) process.removeListener(signal, onSignal);
      await Promise.all(agents.map((a) => a.close().catch(() => undefined)));
      await dep.stop();
      // E2E_KEEP=1 keeps the deployment folder (configs, logs) for a post-mortem.
      if (!process.env.E2E_KEEP) dir.remove();
    },
  };
}

const LOG_TAIL_BYTES = 1_500;

function logTails(dep: Deployment): string {
  const tail = (file: string): string => {
    try {
      return readFileSync(file, 'utf8').slice(-LOG_TAIL_BYTES).trim();
    } catch {
      return '';
    }
  };
  const parts: [string, string][] = [];
  for (const proc of [...dep.services.values(), ...dep.stampers.values(), ...dep.registries.values()]) parts.push([proc.name, tail(proc.logFile)]);
  for (const gateway of dep.gateways.values()) {
    const logs = join(dep.gatewaysDir, gateway.hop.id, 'logs');
    parts.push([`${gateway.hop.id} stderr`, tail(gateway.stderrFile)]);
    parts.push([`${gateway.hop.id} error.log`, tail(join(logs, 'error.log'))]);
    parts.push([`${gateway.hop.id} access.log`, tail(join(logs, 'access.log'))]);
  }
  return parts
    .filter(([, text]) => text)
    .map(([name, text]) => `--- ${name}\n${text}`)
    .join('\n');
}

/** The reference chain: NGINX edge → Apache+ModSecurity WAF → HAProxy → Evidence Locker. */
export const REFERENCE_TOPOLOGY = join(EXAMPLES, 'topology.yaml');
/** The Caddy edge (forward-auth stamper) variant. */
export const CADDY_TOPOLOGY = join(EXAMPLES, 'topology-caddy.yaml');
