/**
 * Opening a SQLite file the durable way, for every part that keeps state in one (the evidence
 * store, the replay cache): WAL journal, `synchronous = FULL` so a commit is on disk when `run()`
 * returns, and versioned migrations under `BEGIN IMMEDIATE` so two processes opening a fresh file
 * do not both create the schema (docs/services.md, durability).
 */
import type Database from 'better-sqlite3';
import { openSqlite } from './sqlite-driver.js';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** Options of {@link openDurableSqlite}. */
export interface DurableSqliteOptions {
  /** Path of the database file; its folder is created when missing. */
  readonly file: string;
  /** How long a writer waits for another process's lock before failing. */
  readonly busyTimeoutMs: number;
  /** Index i holds the statements that bring `user_version` from i to i+1; append only. */
  readonly migrations: readonly string[];
  /** Extra pragmas, e.g. `foreign_keys = ON`. */
  readonly pragmas?: readonly string[];
}

/**
 * Opens, configures and migrates. The handle is closed again when any step fails.
 * @throws the driver's error, for the caller to wrap in its own domain error.
 */
export function openDurableSqlite(options: DurableSqliteOptions): Database.Database {
  mkdirSync(dirname(options.file), { recursive: true });
  const db = openSqlite(options.file, { timeout: options.busyTimeoutMs });
  try {
    db.pragma('journal_mode = WAL');
    // FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power loss.
    db.pragma('synchronous = FULL');
    for (const pragma of options.pragmas ?? []) db.pragma(pragma);
    db.transaction(() => {
      const version = Number(db.pragma('user_version', { simple: true }));
      for (let v = version; v < options.migrations.length; v++) {
        db.exec(options.migrations[v]!);
        db.pragma(`user_version = ${v + 1}`);
      }
    }).immediate();
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}
