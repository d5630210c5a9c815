/**
 * A tiny HTTPS upstream for gateway tests: mTLS with the test PKI (client certificate required),
 * recording what arrives — method, path, headers, body, and the CN of the TLS peer.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { LeafFiles } from './pki.js';

/** One request as the upstream saw it. */
export interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
  readonly peerCn: string;
}

/** A running upstream. */
export interface RecordingUpstream {
  readonly received: ReceivedRequest[];
  close(): Promise<void>;
}

/** Starts the upstream on 127.0.0.1:`port`; it answers 200 `{"ok":true}` to everything. */
export async function startRecordingUpstream(port: number, tls: LeafFiles, caBundle: string): Promise<RecordingUpstream> {
  const received: ReceivedRequest[] = [];
  const server: Server = createServer(
    { key: readFileSync(tls.key), cert: readFileSync(tls.chain), ca: readFileSync(caBundle), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        received.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: { ...req.headers },
          body: Buffer.concat(chunks).toString('utf8'),
          peerCn: String(peer.subject?.CN ?? ''),
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    received,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
