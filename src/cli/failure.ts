/**
 * The one place that turns a failure of a command into its exit code and the line it prints
 * (docs/operations/running.md#when-a-command-fails): what failed, where, and how to fix it, on one
 * line; no stack trace (set `STELLA_DEBUG=1` to get one for an unexpected error).
 *
 * 0 ok, 1 a check failed or the input was rejected, 2 usage or configuration — which includes the
 * machine the command runs on: a port in use, a folder that cannot be written. A domain error's
 * exit code is its registry entry's exit class (docs/CONVENTIONS.md#the-error-registry), decided
 * here and nowhere else; a command only says when a failure was met while reading its
 * configuration ({@link ConfigurationFailure}), which makes it exit 2.
 */
import { CommanderError } from 'commander';
import { isStellaError, type StellaError } from '../errors/base.js';
import type { ExitClass } from '../errors/registry.js';
import { TopologyError, formatProblems } from '../topology/errors.js';
import { CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './output.js';

/** The exit code of each exit class of the error registry (src/errors/registry.ts). */
const EXIT_CODE_OF_CLASS: Readonly<Record<ExitClass, number>> = { failed: EXIT_FAILED, usage: EXIT_USAGE };

/** The exit code of a domain error: its registry entry's exit class, nothing else. */
export function exitCodeOf(error: StellaError): number {
  return EXIT_CODE_OF_CLASS[error.spec.exit];
}

/**
 * A domain error met while a command reads its configuration (its topology, keys, files, flags'
 * values) or starts a long-running service, told in the command's words. Whatever the code's own
 * exit class, such a failure is a usage or configuration error: exit 2, decided here. The command
 * says when it happened, never which exit code it gets.
 */
export class ConfigurationFailure extends CliError {
  constructor(
    message: string,
    readonly failure: StellaError | TypeError,
  ) {
    super(message, EXIT_USAGE);
    this.name = 'ConfigurationFailure';
    this.cause = failure;
  }
}

/** How a {@link configurationStep} words a failure: `CODE: message` unless told otherwise. */
export type ExplainFailure = (error: StellaError | TypeError) => string;

const codeAndMessage: ExplainFailure = (error) => (isStellaError(error) ? `${error.code}: ${error.message}` : error.message);

/**
 * Runs a step of reading the configuration: a domain error it throws becomes a
 * {@link ConfigurationFailure}; with `typeErrors`, so does a `TypeError` (a service's settings
 * checked by its constructor, e.g. a malformed listen address). Anything else passes unchanged.
 *
 * @example
 * const topology = await configurationStep(() => loadTopology(file), (e) => `${file}: ${e.message}`);
 */
export async function configurationStep<T>(step: () => T | Promise<T>, explain: ExplainFailure = codeAndMessage, options: { typeErrors?: boolean } = {}): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (isStellaError(error) || (options.typeErrors === true && error instanceof TypeError)) throw new ConfigurationFailure(explain(error), error);
    throw error;
  }
}

/**
 * The words of a service that cannot start (`serve`, `guard`): the topology file and its problems,
 * or the service and what stops it; a store that does not answer says how to go on.
 */
export function explainStart(topologyFile: string, serviceId: string): ExplainFailure {
  return (error) => {
    if (error instanceof TopologyError) return `${topologyFile}:\n${formatProblems(error.problems)}`;
    // The database is down at start: exit 2 at once rather than retry here; the service manager
    // restarts the process (docs/operations/running.md#when-a-command-fails).
    if (isStellaError(error) && error.code === 'storage-unavailable') return `${serviceId}: ${error.message}; start the database or correct services[].storage.url, then start again`;
    return `${serviceId}: ${error.message}`;
  };
}

/** How a failure ends the process: the exit code and the text for stderr (empty: nothing). */
export interface FailureReport {
  readonly exitCode: number;
  readonly text: string;
}

/**
 * What an operating-system error code means to an operator, and what to do about it. Only the
 * codes a command meets at start (listening, reading and writing its files) are listed; any other
 * system error still gets one line, with Node's own message.
 */
const SYSTEM_ERRORS: Readonly<Record<string, { readonly what: string; readonly fix: string }>> = {
  EADDRINUSE: { what: 'address already in use', fix: 'stop the process that holds it or choose another listen address' },
  EADDRNOTAVAIL: { what: 'address not available on this machine', fix: 'listen on an address of one of its interfaces' },
  EACCES: { what: 'permission denied', fix: 'run as a user that may use it, or choose another path or a port above 1023' },
  EPERM: { what: 'operation not permitted', fix: 'run as a user that may use it, or choose another path' },
  EROFS: { what: 'read-only file system', fix: 'choose a writable folder' },
  ENOTDIR: { what: 'a part of the path is a file, not a folder', fix: 'choose a path whose parents are folders' },
  EISDIR: { what: 'is a folder, not a file', fix: 'name a file' },
  EEXIST: { what: 'already exists and is not what was expected', fix: 'remove it or choose another path' },
  ENOENT: { what: 'no such file or folder', fix: 'check the path' },
  ENOSPC: { what: 'no space left on the device', fix: 'free space or choose another disk' },
};

/** A Node.js system error (`listen EADDRINUSE`, `mkdir ENOTDIR`, …). */
interface SystemError extends Error {
  code: string;
  syscall: string;
  path?: string;
  address?: string;
  port?: number;
}

function isSystemError(error: unknown): error is SystemError {
  return error instanceof Error && typeof (error as Partial<SystemError>).code === 'string' && typeof (error as Partial<SystemError>).syscall === 'string';
}

/** Where a system error happened: the path or the address it names. */
function whereOf(error: SystemError): string {
  if (error.address !== undefined) return error.port === undefined ? error.address : `${error.address.includes(':') ? `[${error.address}]` : error.address}:${error.port}`;
  return error.path ?? '';
}

/**
 * Maps a failure to its exit code and text. `command` names the command that ran (`serve`,
 * `pki serve`), so every line says what failed.
 *
 * @example
 * reportFailure(Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE', syscall: 'listen', address: '127.0.0.1', port: 9443 }), 'serve');
 * // { exitCode: 2, text: 'stella-gateway serve: cannot listen on 127.0.0.1:9443: address already in use (EADDRINUSE); stop the process …' }
 */
export function reportFailure(error: unknown, command: string, debug = false): FailureReport {
  const prefix = command ? `stella-gateway ${command}: ` : 'stella-gateway: ';
  if (error instanceof CommanderError) {
    // Commander printed the usage error already; --help and --version are not failures.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return { exitCode: EXIT_OK, text: '' };
    return { exitCode: EXIT_USAGE, text: '' };
  }
  // A command's own verdict, or a domain error met while reading the configuration (ConfigurationFailure).
  if (error instanceof CliError) return { exitCode: error.exitCode, text: error.message ? `${prefix}${error.message}\n` : '' };
  if (error instanceof TopologyError) {
    // Its problems are listed together, one per line.
    return { exitCode: exitCodeOf(error), text: `${prefix}${error.code}:\n${formatProblems(error.problems)}\n` };
  }
  if (isStellaError(error)) return { exitCode: exitCodeOf(error), text: `${prefix}${error.code}: ${oneLine(error.message)}\n` };
  if (isSystemError(error)) {
    const known = SYSTEM_ERRORS[error.code];
    const where = whereOf(error);
    const text = known
      ? `cannot ${verbOf(error)}${where ? ` ${where}` : ''}: ${known.what} (${error.code}); ${known.fix}`
      : `cannot ${verbOf(error)}${where ? ` ${where}` : ''}: ${oneLine(error.message)}`;
    return { exitCode: EXIT_USAGE, text: `${prefix}${text}\n` };
  }
  const detail = error instanceof Error ? `${error.name}: ${oneLine(error.message)}` : oneLine(String(error));
  const stack = debug && error instanceof Error && error.stack ? `\n${error.stack}` : '';
  return { exitCode: EXIT_FAILED, text: `${prefix}unexpected error: ${detail}; set STELLA_DEBUG=1 for the stack trace${stack}\n` };
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, '; ');
}

function verbOf(error: SystemError): string {
  return error.syscall === 'listen' || error.syscall === 'bind' ? `${error.syscall} on` : error.syscall;
}
