/**
 * `stella-gateway <group> <command>` (README.md#command-line).
 *
 * Commands parse their flags and call an `async fn(options)` of the library; only this entry point
 * decides the process exit code: 0 ok, 1 the check failed or was rejected, 2 usage or configuration
 * (src/cli/failure.ts maps every failure to its code and its one line).
 */
import { Command } from 'commander';
import { commandGroups } from './commands/index.js';
import { reportFailure } from './failure.js';
import { addExamples } from './examples.js';
import { PACKAGE } from './version.js';

/** Builds the command tree. Exposed so tests can inspect `--help` without spawning a process. */
export function buildProgram(): Command {
  const program = new Command('stella-gateway')
    .description('Signed scan evidence across reverse-proxy chains, with provenance of every hop.')
    .version(PACKAGE.version, '-V, --version', 'print the version of stella-gateway')
    .showHelpAfterError()
    .exitOverride();
  for (const register of commandGroups) register(program);
  addExamples(program, program.name());
  return program;
}

/** Runs the CLI and resolves to the exit code. Never calls `process.exit`. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const program = buildProgram();
  // The command that runs (`pki serve`), so that a failure line names it.
  let command = '';
  program.hook('preAction', (_root, action) => {
    const names: string[] = [];
    for (let c: Command | null = action; c && c !== program; c = c.parent) names.unshift(c.name());
    command = names.join(' ');
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    const report = reportFailure(error, command, env.STELLA_DEBUG === '1');
    if (report.text) process.stderr.write(report.text);
    return report.exitCode;
  }
}
