/**
 * `stella-gateway <group> <command>` (SPEC §10).
 *
 * Commands parse their flags and call an `async fn(options)` of the library; only this entry point
 * decides the process exit code: 0 ok, 1 the check failed or was rejected, 2 usage or configuration.
 */
import { Command, CommanderError } from 'commander';
import { isStellaError } from '../errors/base.js';
import { CliError, EXIT_USAGE, EXIT_FAILED } from './output.js';
import { commandGroups } from './commands/index.js';
import { TopologyError, formatProblems } from '../topology/errors.js';

/** Builds the command tree. Exposed so tests can inspect `--help` without spawning a process. */
export function buildProgram(): Command {
  const program = new Command('stella-gateway')
    .description('Signed scan evidence across reverse-proxy chains, with provenance of every hop.')
    .showHelpAfterError()
    .exitOverride();
  for (const register of commandGroups) register(program);
  return program;
}

/** Runs the CLI and resolves to the exit code. Never calls `process.exit`. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    return exitCodeFor(error);
  }
}

function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) {
    // --help and --version are not failures.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return 0;
    return EXIT_USAGE;
  }
  if (error instanceof CliError) {
    if (error.message) process.stderr.write(`stella-gateway: ${error.message}\n`);
    return error.exitCode;
  }
  if (error instanceof TopologyError) {
    // A topology is configuration: its problems are usage errors (exit 2), listed together.
    process.stderr.write(`stella-gateway: ${error.code}:\n${formatProblems(error.problems)}\n`);
    return EXIT_USAGE;
  }
  if (isStellaError(error)) {
    process.stderr.write(`stella-gateway: ${error.code}: ${error.message}\n`);
    return EXIT_FAILED;
  }
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`stella-gateway: unexpected error: ${message}\n`);
  return EXIT_FAILED;
}
