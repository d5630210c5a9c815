/**
 * `stella-gateway completion bash|zsh` (docs/operations/running.md#shell-completion): prints the
 * shell completion script generated from this command tree.
 */
import { Argument, type Command } from 'commander';
import { COMPLETION_SHELLS, completionScript, type CompletionShell } from '../completion.js';

/** Registers the `completion` command. */
export function register(program: Command): void {
  program
    .command('completion')
    .description('Print the shell completion script (bash or zsh) for this command tree')
    .addArgument(new Argument('<shell>', 'the shell').choices(COMPLETION_SHELLS))
    .action((shell: CompletionShell, _options: unknown, command: Command) => {
      let root = command;
      while (root.parent) root = root.parent;
      process.stdout.write(completionScript(root, shell));
    });
}
