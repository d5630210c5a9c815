import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  ABI_DRIVER_PACKAGE,
  NAPI_DRIVER_PACKAGE,
  SqliteDriverError,
  loadSqliteDriverPackage,
  openSqlite,
  sqliteDriver,
  sqliteDriverPackage,
} from '../../src/io/sqlite-driver.js';

const require = createRequire(import.meta.url);

describe('SQLite driver by Node.js line (docs/operations/running.md#nodejs-lines)', () => {
  it('maps 20 and 22 to better-sqlite3 12 and 24 onwards to the Node-API alias', () => {
    assert.equal(sqliteDriverPackage('20.19.0'), ABI_DRIVER_PACKAGE);
    assert.equal(sqliteDriverPackage('22.23.3'), ABI_DRIVER_PACKAGE);
    assert.equal(sqliteDriverPackage('23.11.0'), ABI_DRIVER_PACKAGE);
    assert.equal(sqliteDriverPackage('24.0.0'), NAPI_DRIVER_PACKAGE);
    assert.equal(sqliteDriverPackage('24.21.0'), NAPI_DRIVER_PACKAGE);
    assert.equal(sqliteDriverPackage('26.1.0'), NAPI_DRIVER_PACKAGE);
    assert.throws(() => sqliteDriverPackage('v24'), TypeError);
  });

  it('loads the major version meant for the running Node.js, and it works', () => {
    const name = sqliteDriverPackage(process.versions.node);
    const version = (require(`${name}/package.json`) as { version: string }).version;
    assert.equal(version.split('.')[0], name === NAPI_DRIVER_PACKAGE ? '13' : '12');
    assert.equal(sqliteDriver(), require(name));

    const dir = mkdtempSync(join(tmpdir(), 'stella-driver-'));
    try {
      const db = openSqlite(join(dir, 'x.db'));
      db.pragma('journal_mode = WAL');
      db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)');
      const insert = db.prepare('INSERT INTO t VALUES (?, ?)');
      db.transaction(() => insert.run('a', Buffer.from([1, 2, 3]))).immediate();
      assert.throws(() => insert.run('a', Buffer.alloc(0)), /UNIQUE/);
      assert.deepEqual(db.prepare('SELECT v FROM t WHERE k = ?').get('a'), { v: Buffer.from([1, 2, 3]) });
      db.close();
      const again = openSqlite(join(dir, 'x.db'), { readonly: true, fileMustExist: true });
      assert.equal(again.pragma('journal_mode', { simple: true }), 'wal');
      assert.throws(() => again.exec('DELETE FROM t'), /readonly/);
      again.close();
      assert.throws(() => openSqlite(join(dir, 'absent.db'), { fileMustExist: true }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a driver that is not installed with one line naming the install command', () => {
    const error = (() => {
      try {
        loadSqliteDriverPackage('better-sqlite3-not-installed-here', '24.21.0');
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    assert.ok(error instanceof SqliteDriverError);
    assert.equal(error.code, 'sqlite-driver-missing');
    assert.match(error.message, /^SQLite driver better-sqlite3-not-installed-here is not installed for Node\.js 24\.21\.0; run `npm ci`/);
    assert.doesNotMatch(error.message, /\n/);
  });

  it('says why the Node-API alias is missing after an install made with an older Node.js', (t) => {
    try {
      require.resolve(NAPI_DRIVER_PACKAGE);
      t.skip(`${NAPI_DRIVER_PACKAGE} is installed here (npm ran on Node.js >= 22)`);
      return;
    } catch {
      // Not installed: what npm on Node.js 20 leaves, the case under test.
    }
    assert.throws(
      () => loadSqliteDriverPackage(NAPI_DRIVER_PACKAGE, '24.21.0'),
      (error: unknown) =>
        error instanceof SqliteDriverError &&
        error.message.includes('npm skips the optional better-sqlite3-napi when it runs on a Node.js older than 24') &&
        error.message.includes('docs/operations/running.md#nodejs-lines'),
    );
  });
});
