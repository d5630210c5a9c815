/**
 * Runs rendered hops with the real programs (docs/gateways/README.md, docs/services.md#health-and-metrics): prepares the hop folder, starts the
 * program in the foreground, waits until its listener completes a verified TLS handshake, and
 * stops it by PID. The E2E harness and `stella-gateway demo` build on this.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { connect } from 'node:tls';
import { StellaError } from '../errors/base.js';
import { GATEWAY_ERRORS } from './errors.js';
import type { ResolvedHop, ResolvedTopology } from '../topology/resolve.js';
import { prepareApacheHop } from './apache/index.js';
import { ENVOY_CONFIG_FILE, loadEnvoyCheck } from './envoy/index.js';
import { splitListen } from './chain.js';
import { prepareHaproxyHop } from './haproxy/index.js';
import { programFor } from './index.js';
import type { Invocation } from './types.js';

/** How long `startHop` waits for the listener by default. */
export const DEFAULT_READY_TIMEOUT_MS = 15_000;
/** How long `stop()` waits after SIGTERM before SIGKILL. */
export const DEFAULT_STOP_GRACE_MS = 5_000;
const POLL_INTERVAL_MS = 100;
const STDERR_TAIL_BYTES = 2_000;

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
 * the WAF's combined upstream certificate file and runtime folders, HAProxy's certificate links
 * and MAC keys as environment variables (docs/CONVENTIONS.md: key material is never rendered).
 */
export async function prepareHop(hop: ResolvedHop, hopDir: string): Promise<Record<string, string>> {
  switch (hop.kind) {
    case 'apache-modsecurity':
      await prepareApacheHop(hop, dirname(hopDir));
      return {};
    case 'haproxy':
      return prepareHaproxyHop(hopDir, hop);
    case 'nginx':
    case 'caddy':
    case 'envoy':
      return {};
  }
}

/** The outcome of one hop's config check. */
export interface HopCheckResult {
  readonly hop: string;
  readonly kind: ResolvedHop['kind'];
  readonly ok: boolean;
  /** What the checker said (stdout and stderr, trimmed). */
  readonly output: string;
}

/** How long a config check may take (CRS makes `apache2 -t` take a few seconds). */
export const CHECK_TIMEOUT_MS = 60_000;

/**
 * Runs the real config check of a rendered hop (`nginx -t`, `haproxy -c`, `apache2 -t`,
 * `caddy validate`) after {@link prepareHop}; Envoy, which has no binary here, is checked against
 * the Envoy v3 API schema in-process (`loadEnvoyCheck`; rejects with `EnvoyCheckUnavailableError`
 * when its optional packages are not installed).
 */
export async function checkHop(hop: ResolvedHop, hopDir: string): Promise<HopCheckResult> {
  if (hop.kind === 'envoy') {
    const checkEnvoyConfig = await loadEnvoyCheck();
    const problems = checkEnvoyConfig(await readFile(join(hopDir, ENVOY_CONFIG_FILE), 'utf8'));
    return { hop: hop.id, kind: hop.kind, ok: problems.length === 0, output: problems.map((p) => `${p.path || '(root)'}: ${p.message}`).join('\n') || 'accepted by the Envoy v3 API schema' };
  }
  const prepared = await prepareHop(hop, hopDir);
  const invocation = programFor(hop.kind).check(hopDir, hop);
  return new Promise((resolve) => {
    execFile(invocation.command, [...invocation.args], { cwd: hopDir, env: environment(invocation, prepared, undefined), timeout: CHECK_TIMEOUT_MS }, (error, stdout, stderr) => {
      const output = `${stdout}${stderr}`.trim();
      resolve({ hop: hop.id, kind: hop.kind, ok: error === null, output: error && output === '' ? error.message : output });
    });
  });
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
  const prepared = await prepareHop(hop, hopDir);
  const invocation = programFor(hop.kind).run(hopDir, hop);
  const stdoutFile = join(hopDir, 'stdout.log');
  const stderrFile = join(hopDir, 'stderr.log');
  const out = openSync(stdoutFile, 'a');
  const err = openSync(stderrFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(invocation.command, [...invocation.args], { cwd: hopDir, env: environment(invocation, prepared, options.env), stdio: ['ignore', out, err] });
  } finally {
    closeSync(out);
    closeSync(err);
  }
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const gateway: RunningGateway = {
    hop,
    pid: child.pid ?? -1,
    stdoutFile,
    stderrFile,
    exited,
    stop: () => stopProcess(child, exited, options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS),
    reload: () => reloadProcess(hop, hopDir, child, prepared),
  };
  const timeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const outcome = await Promise.race([
    waitForTls(topology, hop, timeoutMs).then((ok) => (ok ? 'ready' : 'timeout')),
    exited.then(() => 'exited' as const),
    spawnError.then((e) => e),
  ]);
  if (outcome === 'ready') return gateway;
  await gateway.stop();
  const reason = outcome instanceof Error ? `cannot run ${invocation.command}: ${outcome.message}` : outcome === 'exited' ? `${invocation.command} exited` : `no TLS listener on ${hop.listen} after ${timeoutMs} ms`;
  throw new GatewayStartError(`hop ${hop.id} did not start: ${reason}`, [stderrTail(stderrFile), stderrTail(join(hopDir, 'logs', 'error.log'))].filter(Boolean).join('\n'));
}

/** Stops every gateway (in parallel) and waits for all of them to exit. */
export async function stopAll(gateways: readonly RunningGateway[]): Promise<void> {
  await Promise.all(gateways.map((g) => g.stop()));
}

async function reloadProcess(hop: ResolvedHop, hopDir: string, child: ChildProcess, started: Record<string, string>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) throw new GatewayReloadError(`hop ${hop.id}: the program is not running`);
  const how = programFor(hop.kind).reload(hopDir, hop);
  if (how.kind === 'unsupported') throw new GatewayReloadError(`hop ${hop.id}: ${how.reason}`);
  // The WAF's combined upstream certificate and HAProxy's links are derived from the PKI files.
  const prepared = await prepareHop(hop, hopDir);
  if (how.kind === 'signal') {
    child.kill(how.signal);
    return;
  }
  const { invocation } = how;
  await new Promise<void>((resolve, reject) => {
    execFile(invocation.command, [...invocation.args], { cwd: hopDir, env: environment(invocation, { ...started, ...prepared }, undefined), timeout: CHECK_TIMEOUT_MS }, (error, stdout, stderr) => {
      if (error) reject(new GatewayReloadError(`hop ${hop.id}: ${invocation.command} ${invocation.args[0] ?? ''} failed: ${`${stdout}${stderr}`.trim() || error.message}`));
      else resolve();
    });
  });
}

async function stopProcess(child: ChildProcess, exited: Promise<number | null>, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return void (await exited.catch(() => null));
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const graceOver = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
  const first = await Promise.race([exited.then(() => 'done' as const), graceOver]);
  clearTimeout(timer);
  if (first === 'late') child.kill('SIGKILL');
  await exited;
}

/**
 * Polls until the hop's listener completes a TLS handshake that verifies its certificate against
 * the CA bundle and its serverName. The probe presents the hop's own certificate: a program that
 * requires client certificates (all of them) then finishes the handshake.
 */
async function waitForTls(topology: ResolvedTopology, hop: ResolvedHop, timeoutMs: number): Promise<boolean> {
  const [ca, cert, key] = await Promise.all([readFile(topology.pki.caBundle), readFile(hop.tls.chain), readFile(hop.tls.key)]);
  const { host, port } = splitListen(hop.listen);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: host.replace(/^\[|\]$/g, ''), port, ca, cert, key, servername: hop.serverName, timeout: 2_000 }, () => {
        socket.end();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return true;
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
  return false;
}

function stderrTail(file: string): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.slice(-STDERR_TAIL_BYTES).trim();
  } catch {
    return '';
  }
}
