/**
 * `pki serve`: the enrollment plugin alone on an HTTPS listener. Its own server certificate
 * (role service, name {@link ENROLLMENT_SERVER_NAME}) comes from the same local CA through an
 * `MtlsCertificateProvider`, so it renews and hot-swaps like every other service.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { isIP } from 'node:net';
import { MtlsCertificateProvider } from '../provider.js';
import { attachToServer, createMtlsSecureContextOptions } from '../hotswap.js';
import { enrollmentPlugin } from './plugin.js';

/** CN of the enrollment server's own certificate. */
export const ENROLLMENT_SERVER_NAME = 'pki-enrollment';

/** Options of {@link startEnrollmentServer}. */
export interface EnrollmentServerOptions {
  dir: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Extra DNS names for the server certificate (always includes `localhost` and the name above). */
  dns?: string[];
  clock?: () => Date;
  /** Fastify logging: off by default; `{ level }` logs at that pino level (`--log-level`). */
  logger?: boolean | { level: string };
}

/** A running enrollment server. */
export interface EnrollmentServer {
  url: string;
  app: FastifyInstance;
  provider: MtlsCertificateProvider;
  close(): Promise<void>;
}

/** Starts the enrollment endpoint over TLS. */
export async function startEnrollmentServer(options: EnrollmentServerOptions): Promise<EnrollmentServer> {
  const ip = isIP(options.host) !== 0 ? [options.host] : [];
  const dns = [...new Set(['localhost', ENROLLMENT_SERVER_NAME, ...(isIP(options.host) === 0 ? [options.host] : []), ...(options.dns ?? [])])];
  const provider = new MtlsCertificateProvider({
    source: { kind: 'local-ca', dir: options.dir, role: 'service', name: ENROLLMENT_SERVER_NAME, dns, ip },
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const material = await provider.start();
  const app = Fastify({
    logger: options.logger ?? false,
    // Client certificates are requested but not required: first enrollment has none. /reenroll
    // verifies the presented certificate itself (plugin.ts); verification is not turned off.
    https: { ...createMtlsSecureContextOptions(material), requestCert: true, rejectUnauthorized: false },
  });
  await app.register(enrollmentPlugin, { dir: options.dir, ...(options.clock ? { clock: options.clock } : {}) });
  const detach = attachToServer(app.server, provider);
  try {
    await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    // A busy port must not leave the renewal timer behind: the CLI would never exit.
    detach();
    provider.stop();
    await app.close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = isIP(options.host) === 6 ? `[${options.host}]` : options.host;
  return {
    url: `https://${host}:${port}`,
    app,
    provider,
    async close() {
      detach();
      provider.stop();
      await app.close();
    },
  };
}
