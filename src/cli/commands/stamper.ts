/**
 * `stella-gateway stamper --topology FILE --hop ID` (SPEC §10; docs/CONVENTIONS.md "The stamper
 * contract"): runs the forward-auth stamper of one hop on `hop.stamp.stamper.listen` until SIGINT
 * or SIGTERM. Exit 2 for a bad topology, hop or key file.
 */
import type { Command } from 'commander';
import { CliError, EXIT_USAGE } from '../output.js';
import { loadTopology } from '../../topology/load.js';
import { TopologyError, formatProblems } from '../../topology/errors.js';
import { HopKeyError, loadHopKeyring } from '../../provenance/keys.js';
import { buildStamper } from '../../provenance/stamper.js';
import { watchRevocationList } from '../../pki/crl.js';

/** Registers the `stamper` command. */
export function register(program: Command): void {
  program
    .command('stamper')
    .description('Run the forward-auth stamper of a hop that cannot compute the provenance HMAC itself')
    .requiredOption('--topology <file>', 'topology file (YAML or JSON)')
    .requiredOption('--hop <id>', 'the stamping hop this stamper serves')
    .option('--listen <host:port>', 'override hop.stamp.stamper.listen (keep it on loopback)')
    .action(async (options: { topology: string; hop: string; listen?: string }) => {
      await runStamper(options);
    });
}

/** Loads everything, listens, and resolves once a signal closed the server. */
export async function runStamper(options: { topology: string; hop: string; listen?: string }): Promise<void> {
  let topology;
  let keys;
  try {
    topology = await loadTopology(options.topology);
    keys = await loadHopKeyring(topology, [options.hop]);
  } catch (error) {
    if (error instanceof TopologyError) throw new CliError(`${options.topology}:\n${formatProblems(error.problems)}`, EXIT_USAGE);
    if (error instanceof HopKeyError) throw new CliError(error.message, EXIT_USAGE);
    throw error;
  }
  const hop = topology.hops.find((h) => h.id === options.hop);
  if (!hop || hop.stamp === false) throw new CliError(`hop "${options.hop}" does not exist or does not stamp`, EXIT_USAGE);
  const listen = options.listen ?? hop.stamp.stamper?.listen;
  if (!listen) throw new CliError(`hop "${options.hop}" has no stamp.stamper.listen; pass --listen`, EXIT_USAGE);
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(listen.slice(colon + 1));
  if (!host || !Number.isInteger(port)) throw new CliError(`--listen must be host:port, got "${listen}"`, EXIT_USAGE);

  let revocation;
  try {
    // docs/operations/certificates.md#revocation: a republished CRL is applied within pki.reloadSeconds.
    revocation = await watchRevocationList(topology.pki.crl, topology.pki.reloadSeconds * 1000);
  } catch (error) {
    throw new CliError(`cannot read the CRL ${topology.pki.crl}: ${(error as Error).message}`, EXIT_USAGE);
  }
  const app = buildStamper({ topology, hopId: hop.id, keys, revocation });
  app.addHook('onClose', async () => revocation.stop());
  await app.listen({ host, port });
  process.stderr.write(`stamper for ${hop.id} (seq ${hop.stampSeq}) listening on ${listen}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void app.close().then(() => resolve());
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
