/**
 * `stella-gateway serve --topology FILE --service ID` (README.md#command-line): runs the Evidence Locker or the
 * Scanner WebService of a topology on its mTLS listener until SIGINT or SIGTERM, then shuts down
 * gracefully (in-flight requests finish, the store closes). Exit 2 for configuration errors.
 */
import type { Command } from 'commander';
import { configurationStep, explainStart } from '../failure.js';
import { CliError, EXIT_USAGE } from '../output.js';
import { loadTopology } from '../../topology/load.js';
import { startService } from '../../services/common/server.js';
import { addObserveOptions, opsOf, type ObserveCliOptions } from '../observe.js';
import { replicaAddress } from '../../topology/replicas.js';

/** Options of {@link runServe}. */
export interface ServeOptions extends ObserveCliOptions {
  topology: string;
  service: string;
  listen?: string;
  /** Run replica N of the service (docs/topology.md#replicas): 0 is its `listen`, N its `replicas[N-1]`. */
  replica?: string;
}

/** Registers the `serve` command. */
export function register(program: Command): void {
  const command = program
    .command('serve')
    .description('Run the Evidence Locker or the Scanner WebService of a topology (mTLS, provenance middleware)')
    .requiredOption('--topology <file>', 'topology file (YAML or JSON)')
    .requiredOption('--service <id>', 'the service to run (evidence-locker or scanner-webservice kind)')
    .option('--listen <host:port>', "override the service's listen address")
    .option('--replica <n>', 'run replica N of the service: 0 is its listen, N its replicas[N-1] (docs/topology.md#replicas)');
  addObserveOptions(command).action(async (options: ServeOptions) => {
    await runServe(options);
  });
}

/** The listen address of `--replica N`. @throws CliError (exit 2) for a replica the topology does not name. */
function replicaListen(topology: Awaited<ReturnType<typeof loadTopology>>, options: ServeOptions): string {
  if (options.listen) throw new CliError('serve: give --replica or --listen, not both', EXIT_USAGE);
  const service = topology.services.find((s) => s.id === options.service);
  if (!service) throw new CliError(`serve: no service "${options.service}" in ${options.topology}`, EXIT_USAGE);
  const n = /^\d+$/.test(options.replica ?? '') ? Number(options.replica) : NaN;
  try {
    return replicaAddress(service, n);
  } catch (error) {
    if (error instanceof RangeError) throw new CliError(`serve: ${error.message}; list more under services[].replicas`, EXIT_USAGE);
    throw error;
  }
}

/** Starts the service and resolves once a signal closed it. */
export async function runServe(options: ServeOptions): Promise<void> {
  // Keys, certificates, store settings, a database down: the service cannot start as configured.
  const running = await configurationStep(async () => {
    const topology = await loadTopology(options.topology);
    const ops = opsOf(options);
    const listen = options.replica === undefined ? options.listen : replicaListen(topology, options);
    return startService({ topology, serviceId: options.service, logLevel: options.logLevel, ...(ops ? { ops } : {}), ...(listen ? { listen } : {}) });
  }, explainStart(options.topology, options.service), { typeErrors: true });
  process.stderr.write(`${options.service} listening on ${running.url}${running.opsUrl ? ` (ops: ${running.opsUrl})` : ''}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void running.close().then(() => resolve());
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
