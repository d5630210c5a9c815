/**
 * A small mTLS relay spliced between two parts of a running chain, for the attacks of docs/provenance.md that
 * need a position on the path: it records every request it forwards and can rewrite it on the way
 * (flip a MAC byte, reorder records). It poses as the next part (serves that part's certificate and
 * requires a client certificate from the CA) and presents the previous part's client certificate
 * upstream, so the parts on both sides see exactly the peers they expect.
 *
 * Splicing edits the rendered config of the hop in front (its upstream address) and restarts that
 * hop; `startDeployment`'s restart re-runs the rendered files without rendering them again.
 */
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { splitListen } from '../../../src/gateways/chain.js';
import type { Chain } from './harness.js';

/** One request as the relay received it. */
export interface RelayedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Buffer;
  /** Common Name of the client certificate that sent it. */
  peerCn: string;
}

/** A running relay. */
export interface Relay {
  readonly port: number;
  /** Every request forwarded so far (after `rewrite`), oldest first. */
  readonly forwarded: RelayedRequest[];
  /** Rewrites a request before it is forwarded; null = forward unchanged. */
  rewrite: ((request: RelayedRequest) => RelayedRequest) | null;
  close(): Promise<void>;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) are the relay's own business, never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

interface Identity {
  cert: string;
  key: string;
}

/** Starts a relay on a free loopback port. */
export async function startRelay(options: { ca: string; serverIdentity: Identity; upstream: { listen: string; servername: string; client: Identity } }): Promise<Relay> {
  const ca = readFileSync(options.ca);
  const agent = new Agent({
    connect: { ca, cert: readFileSync(options.upstream.client.cert), key: readFileSync(options.upstream.client.key), servername: options.upstream.servername },
  });
  const { host, port: upstreamPort } = splitListen(options.upstream.listen);
  const forwarded: RelayedRequest[] = [];
  const relay: Relay = { port: 0, forwarded, rewrite: null, close: async () => undefined };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || HOP_BY_HOP.has(name)) continue;
      headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const cn: unknown = (req.socket as TLSSocket).getPeerCertificate().subject?.CN;
    let incoming: RelayedRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers, body: Buffer.concat(chunks), peerCn: typeof cn === 'string' ? cn : '' };
    if (relay.rewrite) incoming = relay.rewrite(incoming);
    forwarded.push(incoming);
    const answer = await request(`https://${host}:${upstreamPort}${incoming.url}`, {
      dispatcher: agent,
      method: incoming.method as 'GET',
      headers: { ...incoming.headers, 'content-length': String(incoming.body.length) },
      ...(incoming.body.length > 0 || incoming.method === 'POST' ? { body: incoming.body } : {}),
    });
    const body = Buffer.from(await answer.body.arrayBuffer());
    const back: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name) && name !== 'content-length') back[name] = value;
    }
    res.writeHead(answer.statusCode, { ...back, 'content-length': String(body.length) });
    res.end(body);
  };

  const server: Server = createServer(
    { ca, cert: readFileSync(options.serverIdentity.cert), key: readFileSync(options.serverIdentity.key), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`relay: ${(error as Error).message}`);
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return Object.assign(relay, {
    port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await agent.close();
    },
  });
}

/**
 * Splices a relay between the WAF and the hop after it: the WAF now proxies to the relay, which
 * poses as that hop and forwards with the WAF's own client certificate.
 */
export async function spliceAfterWaf(chain: Chain, wafId = 'waf'): Promise<Relay> {
  const waf = chain.topology.hops.find((h) => h.id === wafId);
  if (!waf || waf.nextTarget.type !== 'hop') throw new TypeError(`no hop after ${wafId}`);
  const next = waf.nextTarget.hop;
  const relay = await startRelay({
    ca: chain.topology.pki.caBundle,
    serverIdentity: { cert: next.tls.chain, key: next.tls.key },
    upstream: { listen: next.listen, servername: next.serverName, client: { cert: waf.upstreamTls.chain, key: waf.upstreamTls.key } },
  });
  const file = join(chain.deployment.gatewaysDir, waf.id, 'apache2.conf');
  // The WAF forwards with `ProxyPassMatch "^/" "https://<next>:<port>" nocanon` (the target byte for
  // byte, docs/gateways/apache-modsecurity.md#the-request-target): swap the port for the relay's.
  const target = `"https://${next.serverName}:${splitListen(next.listen).port}"`;
  const config = await readFile(file, 'utf8');
  if (!config.includes(target)) {
    // An open relay would keep the test process alive after the failure.
    await relay.close();
    throw new Error(`${file} does not proxy to ${target}`);
  }
  await writeFile(file, config.split(target).join(`"https://${next.serverName}:${relay.port}"`));
  await chain.deployment.restartGateway(waf.id);
  return relay;
}

/**
 * Splices a relay between the last hop (HAProxy) and the service: HAProxy's server line now points
 * at the relay, which poses as the service and forwards with the last hop's client certificate.
 */
export async function spliceBeforeService(chain: Chain, serviceId?: string): Promise<Relay> {
  const service = serviceId ? chain.topology.services.find((s) => s.id === serviceId) : chain.topology.services[0];
  const last = service?.chain.at(-1);
  if (!service || !last) throw new TypeError('no service with a chain');
  if (last.kind !== 'haproxy') throw new TypeError(`the last hop is ${last.kind}; only HAProxy is spliced here`);
  const relay = await startRelay({
    ca: chain.topology.pki.caBundle,
    serverIdentity: { cert: service.tls.chain, key: service.tls.key },
    upstream: { listen: service.listen, servername: service.serverName, client: { cert: last.upstreamTls.chain, key: last.upstreamTls.key } },
  });
  const file = join(chain.deployment.gatewaysDir, last.id, 'haproxy.cfg');
  const config = await readFile(file, 'utf8');
  const pattern = new RegExp(`(server \\S+ )${service.listen.replace(/[.]/g, '\\.')}( )`);
  if (!pattern.test(config)) throw new Error(`${file} has no server line for ${service.listen}`);
  await writeFile(file, config.replace(pattern, `$1127.0.0.1:${relay.port}$2`));
  await chain.deployment.restartGateway(last.id);
  return relay;
}
