/**
 * The options every long-running command shares (docs/operations/running.md#observe-it):
 * `--log-level`, and `--ops-listen` with its opt-in for a non-loopback address.
 */
import { Option, type Command } from 'commander';
import { OpsListenError, parseOpsListen } from '../observe/ops-listener.js';
import { ConfigurationFailure } from './failure.js';

/** pino's levels, most verbose first; `silent` logs nothing. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
/** The level a long-running command logs at unless told otherwise. */
export const DEFAULT_LOG_LEVEL = 'info';

/** What the shared options parse to. */
export interface ObserveCliOptions {
  logLevel?: (typeof LOG_LEVELS)[number];
  opsListen?: string;
  opsListenPublic?: boolean;
}

/** Adds `--log-level`, and unless `ops` is false `--ops-listen` and `--ops-listen-public`. */
export function addObserveOptions(command: Command, options: { ops?: boolean } = {}): Command {
  command.addOption(new Option('--log-level <level>', 'log lines at this pino level and above').choices(LOG_LEVELS).default(DEFAULT_LOG_LEVEL));
  if (options.ops === false) return command;
  return command
    .option('--ops-listen <host:port>', 'also serve GET /livez, /readyz, /metrics over plain HTTP here (loopback unless --ops-listen-public)')
    .option('--ops-listen-public', 'allow --ops-listen on an address that is not loopback');
}

/**
 * The `ops` option of the start functions, or undefined when `--ops-listen` was not given.
 * `fallback` is an older flag of the same meaning (the stamper's `--metrics-listen`).
 * @throws CliError (exit 2) for a malformed address, or one not on loopback without `--ops-listen-public`.
 */
export function opsOf(options: ObserveCliOptions, fallback?: string): { listen: string; allowPublic: boolean } | undefined {
  const listen = options.opsListen ?? fallback;
  if (!listen) return undefined;
  const allowPublic = options.opsListenPublic === true;
  try {
    parseOpsListen(listen, allowPublic);
  } catch (error) {
    if (error instanceof OpsListenError) throw new ConfigurationFailure(error.message, error);
    throw error;
  }
  return { listen, allowPublic };
}
