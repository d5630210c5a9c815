/**
 * The process entry of the CLI: runs `main` and ends the process with its exit code
 * (bin/stella-gateway.js imports the compiled copy). A command has finished when `main` resolves
 * (long-running ones after SIGINT/SIGTERM closed them), so nothing that is still open — a timer
 * of a half-started part, a socket — may keep the process alive after its last line.
 */
import { main } from './main.js';

process.exit(await main(process.argv.slice(2)));
