/**
 * A stand-in for the gateway chain in front of the REAL Evidence Locker app: the tests' one relay
 * (test/support/relay.ts) on 127.0.0.1, posing as the edge, whose forward does what the chain does to a request — reads the client certificate hop 1
 * sees, stamps one record per stamping hop with the product's own `stampRecord` (real MACs with
 * the locker's hop keys), forwards method, path, scan id and the worker's Content-Digest unchanged,
 * replaces the request id with its own as an edge does (docs/operations/running.md#the-request-id) —
 * and hands the request to the locker (`app.inject`, the peer given the way the services' tests
 * give it). The locker then runs its real verification, storage and receipt.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { stampRecord } from '../../../src/provenance/chain.js';
import { serializeProvenanceHeader } from '../../../src/provenance/codec.js';
import type { HopRecord } from '../../../src/provenance/record.js';
import { stampingHops } from '../../../src/topology/resolve.js';
import type { ResolvedService, ResolvedTopology } from '../../../src/topology/resolve.js';
import { TEST_PEER_HEADER } from '../../services/support/fixture.js';
import type { TestKeys } from '../../services/support/fixture.js';
import { startRelay, type RelayAnswer, type RelayedRequest } from '../../support/relay.js';
import type { TestDeployment } from './deployment.js';

/** The running relay. */
export interface ChainRelay {
  /** 'drop-answer': forward to the locker, then lose its answer (the worker cannot know). */
  plan: 'drop-answer'[];
  /** Status the locker gave, per request, the method and the request id the relay gave it. */
  seen: { method: string; status: number; requestId: string }[];
  stop(): Promise<void>;
}

/** Starts the relay on `port` in front of `app` (a locker built for `lockerTopology`). */
export async function startChainRelay(options: {
  deployment: TestDeployment;
  port: number;
  app: FastifyInstance;
  lockerTopology: ResolvedTopology;
  keys: TestKeys;
  /** The locker's clock: records are stamped one second before it. */
  nowMs: number;
}): Promise<ChainRelay> {
  const { deployment, app, lockerTopology, keys } = options;
  const first = lockerTopology.services[0];
  if (!first) throw new TypeError('the locker topology has no service');
  const service: ResolvedService = first;
  const chain: ChainRelay = { plan: [], seen: [], stop: async () => undefined };

  async function forward(req: RelayedRequest): Promise<RelayAnswer> {
    const scannerFingerprint = `sha256:${createHash('sha256').update(req.peerCertificate).digest('hex')}`;
    const scanId = req.headers['x-stella-scan-id'] ?? '';
    const contentDigest = req.headers['content-digest'] ?? null;
    const method = req.method === 'POST' ? 'POST' : 'GET';
    const request = { method, pathAndQuery: req.url, scanId, contentDigest };
    const records: HopRecord[] = [];
    for (const hop of stampingHops(service)) {
      const index = service.chain.indexOf(hop);
      const [kid, key] = [...(keys.hopKeys.get(hop.id) ?? new Map<string, Buffer>())][0] ?? ['', Buffer.alloc(0)];
      const peerId = index === 0 ? 'scanner-01' : (service.chain[index - 1]?.id ?? '');
      records.push(
        stampRecord({
          hop: hop.id, seq: hop.stampSeq ?? 0, ts: Math.floor(options.nowMs / 1000) - 1, nonce: randomBytes(16).toString('hex'),
          // Hop 1 records the certificate the worker really presented; later hops the convention of
          // the services' test fixture for gateway certificates.
          peer: index === 0 ? scannerFingerprint : `sha256:${createHash('sha256').update(`${peerId} certificate`).digest('hex')}`,
          peerId, kid, key, request, previous: records.at(-1) ?? null,
        }),
      );
    }
    // An edge replaces whatever id the client sent with its own (NGINX's $request_id form).
    const requestId = randomBytes(16).toString('hex');
    const headers: Record<string, string> = {
      'x-request-id': requestId,
      'x-stella-scan-id': scanId,
      'x-stella-provenance': serializeProvenanceHeader(records),
      [TEST_PEER_HEADER]: service.chain.at(-1)?.id ?? '',
    };
    if (contentDigest) headers['content-digest'] = contentDigest;
    if (req.headers['content-type']) headers['content-type'] = req.headers['content-type'];
    const answer = await app.inject({ method, url: req.url, headers, ...(req.body.length > 0 ? { payload: req.body } : {}) });
    chain.seen.push({ method, status: answer.statusCode, requestId });
    if (chain.plan[0] === 'drop-answer' && method === 'POST') {
      chain.plan.shift();
      return null;
    }
    const echoed = answer.headers['x-request-id'];
    return {
      status: answer.statusCode,
      headers: { 'content-type': String(answer.headers['content-type'] ?? 'application/json'), ...(typeof echoed === 'string' ? { 'x-request-id': echoed } : {}) },
      body: answer.rawPayload,
    };
  }

  const relay = await startRelay({
    ca: deployment.caBundle,
    serverIdentity: { cert: deployment.edge.chain, key: deployment.edge.key },
    forward,
    listen: { host: '127.0.0.1', port: options.port },
  });
  chain.stop = () => relay.close();
  return chain;
}
