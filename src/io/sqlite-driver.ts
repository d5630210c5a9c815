/**
 * The one place that loads the SQLite driver, chosen by the running Node.js line
 * (docs/operations/running.md#nodejs-lines):
 *
 * - Node.js 20 and 22: `better-sqlite3` 12, the dependency (its addon is built per Node ABI).
 * - Node.js 24 and later: `better-sqlite3-napi`, an optional npm alias of better-sqlite3 13
 *   (Node-API, prebuilt addons inside the package). better-sqlite3 12 aborts the process there
 *   (`Assertion failed: (env) != nullptr` when a statement or database is finalised), and 13
 *   declares `engines: >=22` and does not load on 20 — so neither version serves every line.
 *
 * npm skips an optional dependency whose `engines` do not match the Node.js that runs npm, so an
 * install made with Node.js 20 has no `better-sqlite3-napi`; running it on 24 then fails with one
 * line saying how to install it. The driver is loaded on first use, not on import, so that failure
 * surfaces as the opening part's own error (a store, the outbox), never as a crash at start-up.
 * Both versions expose the same API (types: `@types/better-sqlite3`).
 */
import type BetterSqlite3 from 'better-sqlite3';
import { createRequire } from 'node:module';
import { StellaError } from '../errors/base.js';
import { IO_ERRORS } from './errors.js';

/** The driver's Database constructor (same API in better-sqlite3 12 and 13). */
export type SqliteDriver = typeof BetterSqlite3;
/** An open database handle of either driver. */
export type SqliteDatabase = BetterSqlite3.Database;

/** The first Node.js major line that loads better-sqlite3 13 (the `better-sqlite3-napi` alias). */
export const NAPI_DRIVER_FROM_NODE_MAJOR = 24;
/** The npm alias under which better-sqlite3 13 is installed (package.json `optionalDependencies`). */
export const NAPI_DRIVER_PACKAGE = 'better-sqlite3-napi';
/** The driver package used before {@link NAPI_DRIVER_FROM_NODE_MAJOR}. */
export const ABI_DRIVER_PACKAGE = 'better-sqlite3';

/** The SQLite driver cannot be loaded on this Node.js (it is not installed for this line). */
export class SqliteDriverError extends StellaError {
  readonly code = 'sqlite-driver-missing';
  /** {@link IO_ERRORS}. */
  get registry(): typeof IO_ERRORS {
    return IO_ERRORS;
  }
}

/** The package that serves the Node.js of version `nodeVersion` (e.g. `process.versions.node`). */
export function sqliteDriverPackage(nodeVersion: string): typeof NAPI_DRIVER_PACKAGE | typeof ABI_DRIVER_PACKAGE {
  const major = Number.parseInt(nodeVersion, 10);
  if (!Number.isInteger(major)) throw new TypeError(`sqliteDriverPackage: not a Node.js version: ${nodeVersion}`);
  return major >= NAPI_DRIVER_FROM_NODE_MAJOR ? NAPI_DRIVER_PACKAGE : ABI_DRIVER_PACKAGE;
}

const require = createRequire(import.meta.url);
let loaded: SqliteDriver | undefined;

/**
 * The Database constructor for the running Node.js, loaded once.
 * @throws SqliteDriverError `sqlite-driver-missing` when that line's package is not installed.
 */
export function sqliteDriver(): SqliteDriver {
  loaded ??= loadSqliteDriverPackage(sqliteDriverPackage(process.versions.node), process.versions.node);
  return loaded;
}

/**
 * Loads the driver package `name` for Node.js `nodeVersion` (what {@link sqliteDriver} does; exported
 * so the failure can be exercised with a package that is not installed).
 * @throws SqliteDriverError `sqlite-driver-missing` when `name` is not installed; the driver's own
 *   error when it is installed but its addon does not load.
 */
export function loadSqliteDriverPackage(name: string, nodeVersion: string): SqliteDriver {
  try {
    return require(name) as SqliteDriver;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error;
    const how =
      name === NAPI_DRIVER_PACKAGE
        ? `run \`npm ci\` (or \`npm install\`) with this Node.js: npm skips the optional ${name} when it runs on a Node.js older than ${NAPI_DRIVER_FROM_NODE_MAJOR}`
        : 'run `npm ci`';
    throw new SqliteDriverError(`SQLite driver ${name} is not installed for Node.js ${nodeVersion}; ${how} (docs/operations/running.md#nodejs-lines)`, { cause: error });
  }
}

/** Opens a database with the running line's driver: `new Database(file, options)` of better-sqlite3. */
export function openSqlite(file: string, options?: BetterSqlite3.Options): SqliteDatabase {
  const Database = sqliteDriver();
  return new Database(file, options);
}
