/**
 * The ops listener (docs/operations/running.md#the-ops-listener): plain HTTP, off unless
 * `--ops-listen HOST:PORT` is given, for a kubelet or a Prometheus that holds no client
 * certificate. It answers three read-only routes and nothing else:
 *
 * - `GET /livez`: 200 while the process runs;
 * - `GET /readyz`: 200 or 503 from the same checks as the mTLS `/healthz/ready`;
 * - `GET /metrics`: the part's Prometheus registry (text format).
 *
 * It serves no evidence and no provenance, but readiness details and metrics still tell an
 * attacker about the deployment: a non-loopback address is refused unless the operator opts in
 * (`--ops-listen-public`).
 */
import { createServer, type Server } from 'node:http';
import { BlockList, isIP } from 'node:net';
import type { Registry } from 'prom-client';
import { StellaError } from '../errors/base.js';
import { OPS_PATHS, parseHostPort } from '../conventions/index.js';
import { OBSERVE_ERRORS } from './errors.js';

/** The listener cannot start as asked: a malformed or non-loopback address without the opt-in. */
export class OpsListenError extends StellaError {
  readonly code = 'ops-listen';

  /** {@link OBSERVE_ERRORS}. */
  get registry(): typeof OBSERVE_ERRORS {
    return OBSERVE_ERRORS;
  }
}

/** One readiness check's result, as `/readyz` and `/healthz/ready` print it. */
export interface ReadinessResult {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail: string }>;
}

/** Options of {@link startOpsListener}. */
export interface OpsListenerOptions {
  /** `host:port` (IPv6 in brackets); port 0 picks a free port (tests). */
  listen: string;
  /** Allow an address that is not loopback (`--ops-listen-public`). */
  allowPublic?: boolean;
  /** The part's id (`evidence-locker`, `stamper gw-edge`), named in the answers. */
  part: string;
  registry: Registry;
  /** The same checks as the part's mTLS readiness. */
  readiness: () => Promise<ReadinessResult>;
}

/** A listening ops listener. */
export interface OpsListener {
  /** `http://host:port` actually bound. */
  readonly url: string;
  close(): Promise<void>;
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/**
 * Splits and checks the address. `localhost` counts as loopback; any other name is refused
 * (what it resolves to can change).
 * @throws OpsListenError for a malformed address, or one that is not loopback without `allowPublic`.
 */
export function parseOpsListen(listen: string, allowPublic = false): { host: string; port: number } {
  let host: string, port: number;
  try {
    ({ host, port } = parseHostPort(listen));
  } catch (error) {
    throw new OpsListenError(`--ops-listen must be host:port, got "${listen}"`, { cause: error });
  }
  const family = isIP(host);
  if (family === 0 && host !== 'localhost') throw new OpsListenError(`--ops-listen needs an IP address or localhost, got "${host}"`);
  const isLoopback = host === 'localhost' || loopback.check(host, family === 6 ? 'ipv6' : 'ipv4');
  if (!isLoopback && !allowPublic) {
    throw new OpsListenError(`--ops-listen ${listen} is not a loopback address; metrics and readiness details would be open to the network: add --ops-listen-public to mean it`);
  }
  return { host, port };
}

/** Starts the listener. @throws OpsListenError for the address, or the bind error (EADDRINUSE). */
export async function startOpsListener(options: OpsListenerOptions): Promise<OpsListener> {
  const { host, port } = parseOpsListen(options.listen, options.allowPublic);
  const server: Server = createServer((request, response) => {
    request.resume();
    const path = (request.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string): void => {
      response.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
      response.end(request.method === 'HEAD' ? undefined : body);
    };
    const json = 'application/json; charset=utf-8';
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(405, json, JSON.stringify({ error: 'method not allowed' }));
    switch (path) {
      case OPS_PATHS.live:
        return send(200, json, JSON.stringify({ part: options.part, status: 'live' }));
      case OPS_PATHS.ready:
        void options.readiness().then(
          (result) => send(result.ready ? 200 : 503, json, JSON.stringify({ part: options.part, status: result.ready ? 'ready' : 'not-ready', checks: result.checks })),
          (error: unknown) => send(503, json, JSON.stringify({ part: options.part, status: 'not-ready', detail: (error as Error).message })),
        );
        return;
      case OPS_PATHS.metrics:
        void options.registry.metrics().then(
          (text) => send(200, options.registry.contentType, text),
          (error: unknown) => send(500, json, JSON.stringify({ error: (error as Error).message })),
        );
        return;
      default:
        return send(404, json, JSON.stringify({ error: 'not found', routes: [OPS_PATHS.live, OPS_PATHS.ready, OPS_PATHS.metrics] }));
    }
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
