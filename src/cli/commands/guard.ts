/**
 * `stella-gateway guard --topology FILE --service ID` (docs/services.md#the-guard): runs the
 * verifying guard of a service that cannot verify provenance itself (an `oci-registry`) on the
 * service's `listen`, forwarding what passes to `registry.listen`, until SIGINT or SIGTERM.
 * Exit 2 for configuration errors.
 */
import type { Command } from 'commander';
import { configurationStep, explainStart } from '../failure.js';
import { loadTopology } from '../../topology/load.js';
import { startGuard } from '../../guard/server.js';
import { addObserveOptions, opsOf, type ObserveCliOptions } from '../observe.js';

/** Options of {@link runGuard}. */
export interface GuardOptions extends ObserveCliOptions {
  topology: string;
  service: string;
  listen?: string;
}

/** Registers the `guard` command. */
export function register(program: Command): void {
  const command = program
    .command('guard')
    .description('Run the verifying guard in front of a service that cannot verify provenance itself (oci-registry)')
    .requiredOption('--topology <file>', 'topology file (YAML or JSON)')
    .requiredOption('--service <id>', 'the guarded service (oci-registry kind)')
    .option('--listen <host:port>', "override the service's listen address");
  addObserveOptions(command).action(async (options: GuardOptions) => {
    await runGuard(options);
  });
}

/** Starts the guard and resolves once a signal closed it. */
export async function runGuard(options: GuardOptions): Promise<void> {
  // Keys, certificates, settings: whatever stops the start is the configuration.
  const running = await configurationStep(async () => {
    const topology = await loadTopology(options.topology);
    const ops = opsOf(options);
    return startGuard({ topology, serviceId: options.service, logLevel: options.logLevel, ...(ops ? { ops } : {}), ...(options.listen ? { listen: options.listen } : {}) });
  }, explainStart(options.topology, options.service), { typeErrors: true });
  process.stderr.write(`guard of ${options.service} listening on ${running.url}${running.opsUrl ? ` (ops: ${running.opsUrl})` : ''}\n`);
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
