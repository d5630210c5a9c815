/**
 * The one relay of the tests: an mTLS server that stands where a part of the chain stands (serves
 * that part's certificate, requires a client certificate of the CA), records every request it
 * receives, may rewrite it, and hands it on — to a real part over mTLS ({@link forwardTo}, with
 * the previous part's client certificate, so both sides see exactly the peers they expect) or to
 * any function (a stand-in chain in front of an in-process app). For the attacks of
 * docs/provenance.md that need a position on the path; ./chain-splice.ts puts it into a running chain.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { Agent, request } from 'undici';
import { splitListen } from '../../src/gateways/chain.js';

/** One request as the relay received it. */
export interface RelayedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Buffer;
  /** Common Name of the client certificate that sent it. */
  peerCn: string;
  /** DER of the client certificate that sent it. */
  peerCertificate: Buffer;
}

/** An answer to send back; null loses it (the connection is cut after the request was handled). */
export type RelayAnswer = { status: number; headers: Record<string, string | string[]>; body: Buffer } | null;

/** Where the relay hands a request on. */
export interface RelayForward {
  (request: RelayedRequest): Promise<RelayAnswer>;
  /** Frees what the forward holds (an Agent); called by the relay's close(). */
  close?: () => Promise<void>;
}

/** A running relay. */
export interface Relay {
  readonly port: number;
  /** Every request as it came in, oldest first (before `rewrite`). */
  readonly received: RelayedRequest[];
  /** Every request handed on so far (after `rewrite`), oldest first. */
  readonly forwarded: RelayedRequest[];
  /** Rewrites a request before it is handed on; null = unchanged. */
  rewrite: ((request: RelayedRequest) => RelayedRequest) | null;
  close(): Promise<void>;
}

/** Certificate and key files (PEM). */
export interface Identity {
  cert: string;
  key: string;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) are the relay's own business, never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

function endToEnd(headers: IncomingMessage['headers'] | Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/**
 * Hands requests on to `listen` over mTLS, verifying the server as `servername` and presenting
 * `client`. `agent` is exposed for a test that sends with the same stolen identity itself.
 */
export function forwardTo(options: { ca: string; listen: string; servername: string; client: Identity }): RelayForward & { agent: Agent } {
  const agent = new Agent({
    connect: { ca: readFileSync(options.ca), cert: readFileSync(options.client.cert), key: readFileSync(options.client.key), servername: options.servername },
  });
  const { host, port } = splitListen(options.listen);
  const forward = async (incoming: RelayedRequest): Promise<RelayAnswer> => {
    const answer = await request(`https://${host}:${port}${incoming.url}`, {
      dispatcher: agent,
      method: incoming.method as 'GET',
      headers: { ...incoming.headers, 'content-length': String(incoming.body.length) },
      ...(incoming.body.length > 0 || incoming.method === 'POST' ? { body: incoming.body } : {}),
    });
    const body = Buffer.from(await answer.body.arrayBuffer());
    const headers = endToEnd(answer.headers);
    delete headers['content-length'];
    return { status: answer.statusCode, headers, body };
  };
  return Object.assign(forward, { agent, close: () => agent.close() });
}

/**
 * Starts a relay posing as `serverIdentity` on `listen` (default: a free loopback port), handing
 * every request to `forward`. A forward that throws answers 502 with the error.
 */
export async function startRelay(options: { ca: string; serverIdentity: Identity; forward: RelayForward; listen?: { host: string; port: number } }): Promise<Relay> {
  const received: RelayedRequest[] = [];
  const forwarded: RelayedRequest[] = [];
  const relay: Relay = { port: 0, received, forwarded, rewrite: null, close: async () => undefined };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    const cn: unknown = peer.subject?.CN;
    let incoming: RelayedRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: endToEnd(req.headers),
      body: Buffer.concat(chunks),
      peerCn: typeof cn === 'string' ? cn : '',
      peerCertificate: peer.raw ?? Buffer.alloc(0),
    };
    received.push(incoming);
    if (relay.rewrite) incoming = relay.rewrite(incoming);
    forwarded.push(incoming);
    const answer = await options.forward(incoming);
    if (answer === null) {
      req.socket.destroy();
      return;
    }
    res.writeHead(answer.status, { ...answer.headers, 'content-length': String(answer.body.length) });
    res.end(answer.body);
  };

  const ca = readFileSync(options.ca);
  const server: Server = createServer(
    { ca, cert: readFileSync(options.serverIdentity.cert), key: readFileSync(options.serverIdentity.key), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`relay: ${(error as Error).message}`);
      });
    },
  );
  const listen = options.listen ?? { host: '127.0.0.1', port: 0 };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => resolve());
    });
  } catch (error) {
    await options.forward.close?.();
    throw error;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return Object.assign(relay, {
    port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await options.forward.close?.();
    },
  });
}
