/**
 * Runs rendered hops with the real programs (docs/gateways/README.md, docs/services.md#health-and-metrics): prepares the hop folder, starts the
 * program in the foreground through the one process runtime (`src/io/process.ts`), waits until its
 * listener completes a verified TLS handshake, and stops it by PID. What differs per kind comes from
 * its line in `GATEWAY_KINDS`. The E2E harness and `stella-gateway demo` build on this.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { StellaError } from '../errors/base.js';
import { GATEWAY_ERRORS } from './errors.js';
import { DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_STOP_GRACE_MS, fileTail, pollReady, reloadManaged, runCommand, spawnManaged, type Invocation } from '../io/process.js';
import type { ResolvedHop, ResolvedTopology } from '../topology/resolve.js';
import { parseHostPort } from '../conventions/index.js';
import { gatewayKind } from './kinds.js';
import type { HopCheckResult } from './types.js';

export type { HopCheckResult } from './types.js';
export { DEFAULT_STOP_GRACE_MS } from '../io/process.js';

/** How long `startHop` waits for the listener by default. */
export const DEFAULT_READY_TIMEOUT_MS = 15_000;
/** How long a config check may take (CRS makes `apache2 -t` take a few seconds). */
export const CHECK_TIMEOUT_MS = DEFAULT_COMMAND_TIMEOUT_MS;
const TLS_PROBE_TIMEOUT_MS = 2_000;

/** Options of {@link startHop}. */
export interface StartHopOptions {
  readonly readyTimeoutMs?: number;
  readonly stopGraceMs?: number;
  /** Extra environment for the program (on top of this process's and the hop's own). */
  readonly env?: Readonly<Record<string, string>>;
}

/** A started gateway program. */
export interface RunningGateway {
  readonly hop: ResolvedHop;
  readonly pid: number;
  /** Files holding the program's stdout and stderr. */
  readonly stdoutFile: string;
  readonly stderrFile: string;
  /** Resolves with the exit code (or null after a signal) once the process has ended. */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after the grace period; resolves once the process has exited. */
  stop(): Promise<void>;
  /**
   * The program's graceful reload (new certificates, CA bundle, CRL; in-flight requests finish):
   * prepares the hop's files again, then signals the process or runs the reload command.
   * @throws {GatewayReloadError} when the program has no in-place reload or the command failed.
   */
  reload(): Promise<void>;
}

/** A hop could not be reloaded in place. */
export class GatewayReloadError extends StellaError {
  readonly code = 'GATEWAY_RELOAD_FAILED';

  /** {@link GATEWAY_ERRORS}. */
  get registry(): typeof GATEWAY_ERRORS {
    return GATEWAY_ERRORS;
  }
}

/** Raised when a hop does not come up; carries the tail of its stderr (and of `logs/error.log`, where Apache writes). */
export class GatewayStartError extends StellaError {
  readonly code = 'GATEWAY_START_FAILED';

  constructor(message: string, readonly stderrTail: string) {
    super(stderrTail ? `${message}\n${stderrTail}` : message);
  }

  /** {@link GATEWAY_ERRORS}. */
  get registry(): typeof GATEWAY_ERRORS {
    return GATEWAY_ERRORS;
  }
}

/**
 * The I/O a hop needs before its config check or start, and the environment its program needs:
 * its kind's `prepare` (the WAF's combined upstream certificate file and runtime folders,
 * HAProxy's certificate links and MAC keys as environment variables; docs/CONVENTIONS.md: key
 * material is never rendered).
 */
export function prepareHop(hop: ResolvedHop, hopDir: string): Promise<Record<string, string>> {
  return gatewayKind(hop.kind).prepare(hop, hopDir);
}

/**
 * Runs the config check of a rendered hop: the kind's in-process check where it has one (Envoy,
 * against the Envoy v3 API schema; rejects with `EnvoyCheckUnavailableError` when its optional
 * packages are not installed), otherwise the real program's (`nginx -t`, `haproxy -c`,
 * `apache2 -t`, `caddy validate`) after {@link prepareHop}.
 */
export async function checkHop(hop: ResolvedHop, hopDir: string): Promise<HopCheckResult> {
  const kind = gatewayKind(hop.kind);
  if (kind.check) return kind.check(hop, hopDir);
  const prepared = await kind.prepare(hop, hopDir);
  const invocation = kind.program.check(hopDir, hop);
  const result = await runCommand(invocation, { cwd: hopDir, env: environment(invocation, prepared, undefined), timeoutMs: CHECK_TIMEOUT_MS });
  return { hop: hop.id, kind: hop.kind, ...result };
}

/** The environment a program runs with: this process's, the invocation's, the hop's, the caller's. */
function environment(invocation: Invocation, prepared: Record<string, string>, extra: Readonly<Record<string, string>> | undefined): NodeJS.ProcessEnv {
  return { ...process.env, ...invocation.env, ...prepared, ...extra };
}

/**
 * Starts one rendered hop and waits until it accepts TLS connections.
 *
 * @param hopDir the absolute folder of the hop's rendered files (`<outDir>/<hop id>`).
 * @throws {GatewayStartError} when the program exits or the listener is not up within the timeout.
 * @example
 * const gw = await startHop(topology, hop, join(outDir, hop.id));
 * try { … } finally { await gw.stop(); }
 */
export async function startHop(topology: ResolvedTopology, hop: ResolvedHop, hopDir: string, options: StartHopOptions = {}): Promise<RunningGateway> {
  const kind = gatewayKind(hop.kind);
  const prepared = await kind.prepare(hop, hopDir);
  // The probe's material, read before anything runs: a missing file leaves no process behind.
  const [ca, cert, key] = await Promise.all([readFile(topology.pki.caBundle), readFile(hop.tls.chain), readFile(hop.tls.key)]);
  const invocation = kind.program.run(hopDir, hop);
  const stdoutFile = join(hopDir, 'stdout.log');
  const stderrFile = join(hopDir, 'stderr.log');
  const proc = spawnManaged(hop.id, invocation.command, invocation.args, {
    logFile: stdoutFile,
    errorLogFile: stderrFile,
    cwd: hopDir,
    env: environment(invocation, prepared, options.env),
    stopGraceMs: options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS,
  });
  const gateway: RunningGateway = {
    hop,
    pid: proc.pid,
    stdoutFile,
    stderrFile,
    exited: proc.exited,
    stop: () => proc.stop(),
    async reload() {
      const how = kind.program.reload(hopDir, hop);
      if (proc.hasExited()) throw new GatewayReloadError(`hop ${hop.id}: the program is not running`);
      if (how.kind === 'unsupported') throw new GatewayReloadError(`hop ${hop.id}: ${how.reason}`);
      // The WAF's combined upstream certificate and HAProxy's links are derived from the PKI files.
      const again = await kind.prepare(hop, hopDir);
      const env = how.kind === 'command' ? environment(how.invocation, { ...prepared, ...again }, undefined) : undefined;
      await reloadManaged(proc, how, { cwd: hopDir, env }).catch((error: Error) => {
        throw new GatewayReloadError(`hop ${hop.id}: ${error.message}`);
      });
    },
  };
  const timeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const outcome = await pollReady(proc, () => tlsHandshake(hop, ca, cert, key), timeoutMs);
  if (outcome === 'ready') return gateway;
  await gateway.stop();
  const failure = proc.startError();
  const reason = failure ? `cannot run ${invocation.command}: ${failure.message}` : outcome === 'exited' ? `${invocation.command} exited` : `no TLS listener on ${hop.listen} after ${timeoutMs} ms`;
  throw new GatewayStartError(`hop ${hop.id} did not start: ${reason}`, [fileTail(stderrFile), fileTail(join(hopDir, 'logs', 'error.log'))].filter(Boolean).join('\n'));
}

/** Stops every gateway (in parallel) and waits for all of them to exit. */
export async function stopAll(gateways: readonly RunningGateway[]): Promise<void> {
  await Promise.all(gateways.map((g) => g.stop()));
}

/**
 * One TLS handshake with the hop's listener that verifies its certificate against the CA bundle
 * and its serverName. The probe presents the hop's own certificate: a program that requires
 * client certificates (all of them) then finishes the handshake.
 */
function tlsHandshake(hop: ResolvedHop, ca: Buffer, cert: Buffer, key: Buffer): Promise<boolean> {
  // The socket call takes an IPv6 host without brackets, as parseHostPort returns it.
  const { host, port } = parseHostPort(hop.listen);
  return new Promise<boolean>((resolve) => {
    const socket = connect({ host, port, ca, cert, key, servername: hop.serverName, timeout: TLS_PROBE_TIMEOUT_MS }, () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}
