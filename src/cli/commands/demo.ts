/**
 * `stella-gateway demo` (README.md#command-line, docs/faults.md): the whole chain on the real programs in a temp folder.
 * Exit 0 when every sample was delivered with a verified receipt, both forgeries were rejected
 * with the expected codes and the probe passed; 1 otherwise.
 */
import type { Command } from 'commander';
import { runDemo } from '../../demo/run.js';
import { CliError, EXIT_FAILED, printJson } from '../output.js';

/** Registers `demo`. */
export function register(program: Command): void {
  program
    .command('demo')
    .description('Run a whole chain (NGINX → Apache+ModSecurity → HAProxy → Evidence Locker) on this machine and show it working')
    .option('--keep', 'leave the deployment running and print how to talk to it')
    .option('--dir <dir>', 'deployment folder (default: a new temp folder, removed afterwards)')
    .option('--topology <file>', 'deploy this topology instead of examples/topology.yaml')
    .option('--json', 'print the outcome as JSON at the end')
    .action(async (options: { keep?: boolean; dir?: string; topology?: string; json?: boolean }) => {
      const outcome = await runDemo({
        keep: options.keep === true,
        dir: options.dir,
        topologyFile: options.topology,
        print: (text) => (options.json ? process.stderr : process.stdout).write(`${text}\n`),
      });
      if (options.json) printJson({ ok: outcome.ok, workDir: outcome.workDir, delivered: outcome.delivered, rejections: outcome.rejections, probe: outcome.probe });
      if (outcome.deployment) {
        // --keep: run until interrupted, then stop every process by PID.
        const deployment = outcome.deployment;
        await new Promise<void>((resolve) => {
          const stop = (): void => void deployment.stop().then(resolve);
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      }
      if (!outcome.ok) throw new CliError('', EXIT_FAILED);
    });
}
