/**
 * The gateway supervisor's watch (docs/operations/certificates.md#revocation): the programs read
 * their certificates, CA bundle and CRL once, at start or reload, so a republished `crl.pem`
 * reaches a running gateway only through a reload. This polls those files every
 * `pki.reloadSeconds` and sends the program's graceful reload (`RunningGateway.reload`) when one
 * changed: within the bound, with no request in flight dropped.
 */
import { stat } from 'node:fs/promises';
import type { ResolvedHop, ResolvedTopology } from '../topology/resolve.js';
import type { RunningGateway } from './runtime.js';

/** How long after a first change the supervisor waits for the rest of one publication (bundle + CRL). */
export const RELOAD_SETTLE_MS = 200;

/** The files a hop's program reads that the PKI republishes: bundle, CRL, its own certificates. */
export function trustFilesOf(topology: ResolvedTopology, hop: ResolvedHop): string[] {
  const { tls, upstreamTls } = hop;
  return [...new Set([topology.pki.caBundle, topology.pki.crl, tls.cert, tls.key, tls.chain, upstreamTls.cert, upstreamTls.key, upstreamTls.chain])];
}

/** Options of {@link superviseGateway}. */
export interface SuperviseOptions {
  /** Poll period; default `pki.reloadSeconds`. */
  readonly intervalMs: number;
  /** Told after every reload attempt (error null on success). */
  readonly onReload?: (hopId: string, error: Error | null) => void;
}

/** A running watch; `stop()` ends it (a reload in progress completes). */
export interface GatewaySupervisor {
  /** Checks the files now and reloads if one changed; resolves once that reload was sent. */
  check(): Promise<boolean>;
  stop(): void;
}

/**
 * Watches a hop's PKI files and reloads its program on a change. `gateway` is looked up at each
 * reload, so a restarted program (same hop) is the one reloaded.
 *
 * @example
 * const supervisor = await superviseGateway(() => gw, trustFilesOf(topology, hop), { intervalMs: topology.pki.reloadSeconds * 1000 });
 */
export async function superviseGateway(gateway: () => RunningGateway | undefined, files: readonly string[], options: SuperviseOptions): Promise<GatewaySupervisor> {
  if (!(options.intervalMs > 0)) throw new TypeError('superviseGateway: intervalMs must be positive');
  let seen = await signature(files);
  let running: Promise<boolean> | null = null;
  let stopped = false;

  const check = async (): Promise<boolean> => {
    const now = await signature(files);
    if (now === seen) return false;
    // One publication rewrites several files in turn: let it finish, then reload once.
    await new Promise((resolve) => setTimeout(resolve, RELOAD_SETTLE_MS));
    seen = await signature(files);
    const target = gateway();
    if (!target) return false;
    try {
      await target.reload();
      options.onReload?.(target.hop.id, null);
    } catch (error) {
      options.onReload?.(target.hop.id, error instanceof Error ? error : new Error(String(error)));
    }
    return true;
  };
  const serialized = (): Promise<boolean> => {
    running ??= check().finally(() => (running = null));
    return running;
  };
  const timer = setInterval(() => {
    if (!stopped) void serialized().catch(() => undefined);
  }, options.intervalMs);
  timer.unref();
  return {
    check: serialized,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/** Modification time, inode and size of every file; a missing file counts as a state too. */
async function signature(files: readonly string[]): Promise<string> {
  const parts = await Promise.all(
    files.map(async (file) => {
      try {
        const s = await stat(file);
        return `${s.mtimeMs}:${s.ino}:${s.size}`;
      } catch {
        return 'missing';
      }
    }),
  );
  return parts.join('|');
}
