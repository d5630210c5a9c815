/**
 * The contract every gateway renderer implements (docs/gateways/README.md). Rendering is a pure function from the
 * resolved topology to files; `write.ts` puts them on disk and `runtime.ts` starts the programs.
 */
import { HEALTH_PREFIX, hopHealthPath } from '../conventions/index.js';
import type { GracefulReload, Invocation } from '../io/process.js';
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

/** A program invocation and a graceful reload: the shapes of the one process runtime (`src/io/process.ts`). */
export type { GracefulReload, Invocation } from '../io/process.js';

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

/** The outcome of one hop's config check. */
export interface HopCheckResult {
  readonly hop: string;
  readonly kind: ResolvedHop['kind'];
  readonly ok: boolean;
  /** What the checker said (stdout and stderr, trimmed). */
  readonly output: string;
}

/**
 * Everything the product knows about one gateway kind, exported by `src/gateways/<kind>/index.ts`
 * and listed once in `GATEWAY_KINDS` (`src/gateways/kinds.ts`, docs/CONVENTIONS.md#gateway-behaviour-every-renderer-implements).
 * Callers look a hop's kind up there; nothing else switches on the kind.
 */
export interface GatewayKindModule {
  /** Renders the hop's files (pure). */
  readonly render: HopRenderer;
  /** The program: its config check, its foreground run, its graceful reload. */
  readonly program: GatewayProgram;
  /**
   * The I/O the hop needs before a check, a start or a reload (links, combined files, runtime
   * folders); returns the extra environment its program needs (key material, never rendered).
   */
  prepare(hop: ResolvedHop, hopDir: string): Promise<Record<string, string>>;
  /**
   * The config check when it runs in-process instead of as `program.check` (Envoy: no binary
   * here, docs/gateways/envoy.md). May reject with a machine problem (`EnvoyCheckUnavailableError`).
   */
  check?(hop: ResolvedHop, hopDir: string): Promise<HopCheckResult>;
  /**
   * How the kind's systemd unit differs from the default (docs/operations/running.md#run-it-under-systemd): by default it
   * runs as the deployment's user, with CAP_NET_BIND_SERVICE only for a port below 1024.
   */
  readonly unit?: {
    /** The unit runs as root (Apache: the root parent reads keys, its children drop to www-data). */
    readonly asRoot?: boolean;
    /** Its capabilities, instead of the default. */
    readonly capabilities?: readonly string[];
    /** Printed beside the unit. */
    readonly notes?: readonly string[];
  };
}

/** Health endpoints every gateway serves (docs/services.md#health-and-metrics, docs/CONVENTIONS.md#gateway-behaviour-every-renderer-implements). */
export const GATEWAY_HEALTH_PREFIX = HEALTH_PREFIX;
/** A hop answers `GET /healthz/hop/<its id>` itself and passes every other `/healthz/*` on (the conventions floor's path). */
export { hopHealthPath };
