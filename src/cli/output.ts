/** Exit codes and output helpers shared by every command (README.md#command-line). */
import { isStellaError, type StellaError } from '../errors/base.js';
import { TopologyError, formatProblems } from '../topology/errors.js';

export const EXIT_OK = 0;
/** The check failed or the input was rejected. */
export const EXIT_FAILED = 1;
/** Usage or configuration error. */
export const EXIT_USAGE = 2;

/**
 * Thrown by a command to end with a given exit code. The message (if any) goes to stderr once;
 * a command that already printed its own output throws with an empty message.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILED,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/**
 * A domain error met while a command reads its configuration (its topology, keys, files, flags'
 * values) or starts a long-running service, told in the command's words. Whatever the code's own
 * exit class, such a failure is a usage or configuration error: src/cli/failure.ts ends it with
 * exit 2. The command says when it happened, never which exit code it gets.
 */
export class ConfigurationFailure extends Error {
  constructor(
    message: string,
    readonly failure: StellaError | TypeError,
  ) {
    super(message, { cause: failure });
    this.name = 'ConfigurationFailure';
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

/** Writes a value as one JSON document on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Formats rows as an aligned plain-text table (for human output). */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
