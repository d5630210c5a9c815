/**
 * `stella-gateway systemd render --topology FILE --out DIR [--exec PATH] [--user NAME]`
 * (docs/operations/running.md#run-it-under-systemd): writes one systemd unit per part of the
 * topology, a sysusers.d file and README.txt with the install commands. Exit 2 for a bad topology.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_EXEC, DEFAULT_USER, renderSystemdUnits } from '../../deploy/systemd.js';
import { writeRenderedFiles } from '../../gateways/write.js';
import { loadTopology } from '../../topology/load.js';
import { CliError, EXIT_USAGE, printJson } from '../output.js';

/** Options of {@link renderUnits}. */
export interface RenderUnitsOptions {
  readonly topology: string;
  readonly out: string;
  readonly exec?: string;
  readonly user?: string;
}

/** Renders and writes the units; resolves to the files written. */
export async function renderUnits(options: RenderUnitsOptions): Promise<string[]> {
  if (options.exec !== undefined && !options.exec.startsWith('/')) throw new CliError(`--exec must be an absolute path, got "${options.exec}"`, EXIT_USAGE);
  if (options.user !== undefined && !/^[a-z_][a-z0-9_-]{0,31}$/.test(options.user)) throw new CliError(`--user must be an account name, got "${options.user}"`, EXIT_USAGE);
  // The keys are named, not read: the units are written before (or away from) the keys.
  const topology = await loadTopology(options.topology, { credentialsDirectory: undefined });
  return writeRenderedFiles(resolve(options.out), renderSystemdUnits(topology, { topologyFile: resolve(options.topology), exec: options.exec, user: options.user }));
}

/** Registers the `systemd` group. */
export function register(program: Command): void {
  const group = program.command('systemd').description('Run the parts of a topology as systemd services');
  group
    .command('render')
    .description('Write one unit per service, stamper, hop and scanner worker (LoadCredential= keys, hardening), a sysusers.d file and README.txt')
    .requiredOption('--topology <file>', 'topology file, where the units will read it (its absolute path goes into every unit)')
    .requiredOption('--out <dir>', 'output folder')
    .option('--exec <path>', `the installed CLI (default ${DEFAULT_EXEC})`)
    .option('--user <name>', `the account the parts run as (default ${DEFAULT_USER})`)
    .option('--json', 'machine-readable output')
    .action(async (options: RenderUnitsOptions & { json?: boolean }) => {
      const written = await renderUnits(options);
      if (options.json) printJson({ written });
      else process.stdout.write(`wrote ${written.length} file(s) under ${resolve(options.out)}; how to install them: ${resolve(options.out, 'README.txt')}\n`);
    });
}
