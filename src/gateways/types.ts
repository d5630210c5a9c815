/**
 * The contract every gateway renderer implements (docs/gateways/README.md). Rendering is a pure function from the
 * resolved topology to files; `write.ts` puts them on disk and `runtime.ts` starts the programs.
 */
import { HEALTH_PREFIX, hopHealthPath } from '../conventions/index.js';
import type { ResolvedHop, ResolvedTopology } from '../topology/resolve.js';

/** One file of a rendered configuration, relative to the render output folder. */
export interface RenderedFile {
  /** POSIX path relative to the output folder, e.g. `gw-edge/nginx.conf`. */
  readonly path: string;
  readonly contents: string;
  /** File mode; defaults to 0o644. */
  readonly mode?: number;
}

export interface RenderContext {
  /**
   * The absolute folder the files will be written to. Configs may reference their own sibling
   * files through it (e.g. the NGINX perl module); rendering still touches no file.
   */
  readonly outDir: string;
  /**
   * The topology file as the operator will name it, when known: the index then prints the one
   * command that runs each hop, `stella-gateway gateway run --topology FILE --hop ID --out DIR`
   * (it prepares the key environment and certificate links the program needs first).
   */
  readonly topologyFile?: string;
}

/** Renders the files of one hop. */
export type HopRenderer = (topology: ResolvedTopology, hop: ResolvedHop, context: RenderContext) => RenderedFile[];

/** A program invocation: what to run, with which arguments, and extra environment. */
export interface Invocation {
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * How a running program takes new certificates, CA bundle and CRL without dropping a request
 * (docs/operations/certificates.md#revocation): a signal to the foreground process, a command,
 * or nothing it can do in place.
 */
export type GracefulReload =
  | { readonly kind: 'signal'; readonly signal: NodeJS.Signals }
  | { readonly kind: 'command'; readonly invocation: Invocation }
  | { readonly kind: 'unsupported'; readonly reason: string };

/**
 * How to check and run a rendered hop with the real program. `hopDir` is the absolute folder
 * holding that hop's rendered files (`<outDir>/<hop id>`).
 */
export interface GatewayProgram {
  /** The config check (`nginx -t`, `haproxy -c`, `apache2 -t`, `caddy validate`). */
  check(hopDir: string, hop: ResolvedHop): Invocation;
  /** The long-running process, in the foreground (the runtime tracks it by PID). */
  run(hopDir: string, hop: ResolvedHop): Invocation;
  /** Its graceful reload, sent to the process `run` started. */
  reload(hopDir: string, hop: ResolvedHop): GracefulReload;
}

/** Health endpoints every gateway serves (docs/services.md#health-and-metrics, docs/CONVENTIONS.md#gateway-behaviour-every-renderer-implements). */
export const GATEWAY_HEALTH_PREFIX = HEALTH_PREFIX;
/** A hop answers `GET /healthz/hop/<its id>` itself and passes every other `/healthz/*` on (the conventions floor's path). */
export { hopHealthPath };
