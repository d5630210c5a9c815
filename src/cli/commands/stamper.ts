/**
 * `stella-gateway stamper --topology FILE --hop ID` (README.md#command-line; docs/CONVENTIONS.md "The stamper
 * contract", docs/provenance.md#the-forward-auth-stamper): runs the forward-auth stamper of one hop
 * where `hop.stamp.stamper` says — a Unix socket only the gateway's account can open, or mTLS with
 * the hop's own certificate — until SIGINT or SIGTERM. Exit 2 for a bad topology, hop, key file or
 * an unsafe socket path.
 */
import { Option, type Command } from 'commander';
import pino from 'pino';
import { collectDefaultMetrics } from 'prom-client';
import { isStellaError, type StellaError } from '../../errors/base.js';
import { configurationStep, type ExplainFailure } from '../failure.js';
import { CliError, EXIT_USAGE, hostPortOption } from '../output.js';
import { formatHostPort } from '../../conventions/index.js';
import { loadTopology } from '../../topology/load.js';
import type { ResolvedHop, ResolvedTopology } from '../../topology/resolve.js';
import { TopologyError, formatProblems } from '../../topology/errors.js';
import { HopKeyError, loadHopKeyring } from '../../provenance/keys.js';
import { loadV2SigningKey } from '../../provenance/v2/keys.js';
import { stamperCore } from '../../provenance/stamper.js';
import { listenStamper, StamperListenError, type StamperListen } from '../../provenance/stamper-listen.js';
import { stamperEndpoint } from '../../gateways/chain.js';
import { watchRevocationList } from '../../pki/crl.js';
import { registerCertificateExpiry } from '../../observe/certificates.js';
import { startOpsListener } from '../../observe/ops-listener.js';
import { addObserveOptions, opsOf, type ObserveCliOptions } from '../observe.js';

/** Options of {@link runStamper}. */
export interface StamperCliOptions extends ObserveCliOptions {
  topology: string;
  hop: string;
  /** Overrides the topology: mTLS on this `host:port`. */
  listen?: string;
  /** Overrides the topology: this Unix socket. */
  socket?: string;
  /** The former name of `--ops-listen` (loopback only). */
  metricsListen?: string;
}

/** Registers the `stamper` command. */
export function register(program: Command): void {
  const command = program
    .command('stamper')
    .description('Run the forward-auth stamper of a hop that cannot compute the provenance HMAC itself')
    .requiredOption('--topology <file>', 'topology file (YAML or JSON)')
    .requiredOption('--hop <id>', 'the stamping hop this stamper serves')
    .option('--socket <path>', 'override hop.stamp.stamper: listen on this Unix socket (0600 in a 0700 folder)')
    .option('--listen <host:port>', 'override hop.stamp.stamper: listen here with mTLS (keep it on loopback)')
    .addOption(new Option('--metrics-listen <host:port>', 'former name of --ops-listen').hideHelp());
  addObserveOptions(command).action(async (options: StamperCliOptions) => {
    await runStamper(options);
  });
}

/** The words of a failure to load the topology or the hop's keys: the file and its problems, or the key file's. */
function explainLoad(topologyFile: string): ExplainFailure {
  return (error) => {
    if (error instanceof TopologyError) return `${topologyFile}:\n${formatProblems(error.problems)}`;
    if (error instanceof HopKeyError || !isStellaError(error)) return error.message;
    return `${error.code}: ${error.message}`;
  };
}

/** Loads everything, listens, and resolves once a signal closed the server. */
export async function runStamper(options: StamperCliOptions): Promise<void> {
  const { topology, keys, v2Key } = await configurationStep(async () => {
    const loaded = await loadTopology(options.topology);
    const ring = await loadHopKeyring(loaded, [options.hop]);
    // docs/provenance.md#v2-keys: the hop's private key, read once here and by nobody else.
    const own = loaded.hops.find((h) => h.id === options.hop);
    const signing = own && own.stamp !== false && own.stamp.profile !== 'v1' ? await loadV2SigningKey(own) : undefined;
    return { topology: loaded, keys: ring, v2Key: signing };
  }, explainLoad(options.topology));
  const hop = topology.hops.find((h) => h.id === options.hop);
  if (!hop || hop.stamp === false) throw new CliError(`hop "${options.hop}" does not exist or does not stamp`, EXIT_USAGE);
  const where = listenOf(topology, hop, options);
  const opsOption = opsOf(options, options.metricsListen);

  let revocation;
  try {
    // docs/operations/certificates.md#revocation: a republished CRL is applied within pki.reloadSeconds.
    revocation = await watchRevocationList(topology.pki.crl, topology.pki.reloadSeconds * 1000);
  } catch (error) {
    throw new CliError(`cannot read the CRL ${topology.pki.crl}: ${(error as Error).message}`, EXIT_USAGE);
  }
  // Decision lines on stderr, one per stamp or refusal, with the gateway's request id.
  const decisionLog = pino({ name: `stamper-${hop.id}`, level: options.logLevel ?? 'info' }, pino.destination(2));
  const core = stamperCore({ topology, hopId: hop.id, keys, revocation, decisionLog, ...(v2Key ? { v2Key } : {}) });
  collectDefaultMetrics({ register: core.registry });
  let stamper;
  try {
    stamper = await configurationStep(() => listenStamper(core, where), (error) => (error instanceof StamperListenError ? error.message : `${(error as StellaError).code}: ${error.message}`));
  } catch (error) {
    revocation.stop();
    throw error;
  }
  const provider = stamper.certificates;
  if (provider) registerCertificateExpiry(core.registry, `stamper-${hop.id}`, () => provider.current());
  let ops;
  try {
    ops = opsOption
      ? await startOpsListener({
          ...opsOption,
          part: `stamper-${hop.id}`,
          registry: core.registry,
          // Keys and CRL were loaded before the listener opened; the mTLS form also needs its certificate.
          readiness: async () => {
            const cert = provider?.ready() ?? { ready: true, reason: 'none (Unix socket)' };
            const checks = { keys: { ok: true, detail: `stamping key of ${hop.id} loaded` }, certificate: { ok: cert.ready, detail: cert.ready ? (provider ? 'valid' : 'none needed (Unix socket)') : (cert.reason ?? 'not ready') } };
            return { ready: cert.ready, checks };
          },
        })
      : null;
  } catch (error) {
    revocation.stop();
    await stamper.close();
    throw error;
  }
  const at = where.kind === 'unix' ? `unix:${where.socket}` : `${formatHostPort(where)} (mTLS)`;
  process.stderr.write(`stamper for ${hop.id} (seq ${hop.stampSeq}) listening on ${at}${ops ? ` (ops: ${ops.url})` : ''}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      revocation.stop();
      void Promise.all([ops?.close(), stamper.close()]).then(() => resolve());
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/** The listener the options and the topology name; the mTLS form presents the hop's own certificate. */
function listenOf(topology: ResolvedTopology, hop: ResolvedHop, options: StamperCliOptions): StamperListen {
  if (options.socket && options.listen) throw new CliError('give --socket or --listen, not both', EXIT_USAGE);
  const endpoint = stamperEndpoint(hop);
  const socket = options.socket ?? (!options.listen && endpoint?.kind === 'unix' ? endpoint.socket : undefined);
  if (socket) {
    if (!socket.startsWith('/')) throw new CliError(`--socket must be an absolute path, got "${socket}"`, EXIT_USAGE);
    return { kind: 'unix', socket, gatewayUser: endpoint?.kind === 'unix' ? endpoint.gatewayUser : null };
  }
  const listen = options.listen ?? (endpoint?.kind === 'mtls' ? endpoint.listen : undefined);
  if (!listen) throw new CliError(`hop "${hop.id}" has no stamp.stamper; pass --socket or --listen`, EXIT_USAGE);
  const { host, port } = hostPortOption(options.listen ? '--listen' : `hop ${hop.id} stamp.stamper.listen`, listen);
  return {
    kind: 'mtls',
    host,
    port,
    trustDomain: topology.trustDomain,
    tls: { chain: hop.tls.chain, key: hop.tls.key, caBundle: topology.pki.caBundle, crl: topology.pki.crl },
  };
}
