/**
 * A real PostgreSQL for tests. `scripts/test.sh` starts one cluster per run and exports
 * STELLA_TEST_PG_URL; a test file run on its own starts a cluster itself. Each caller gets a
 * fresh database of its own, dropped by the returned `drop`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { waitFor } from './wait.js';

let clusterUrl: string | undefined = process.env.STELLA_TEST_PG_URL;
let ownCluster: string | undefined;

function baseUrl(): string {
  if (clusterUrl) return clusterUrl;
  ownCluster = mkdtempSync(join(tmpdir(), 'stella-pg-'));
  try {
    clusterUrl = execFileSync('bash', ['scripts/pg-cluster.sh', 'start', ownCluster], { encoding: 'utf8' }).trim();
  } catch (error) {
    throw new Error('PostgreSQL could not be started for the tests; install it with: bash scripts/install-system-deps.sh', { cause: error });
  }
  process.once('exit', () => {
    if (!ownCluster) return;
    execFileSync('bash', ['scripts/pg-cluster.sh', 'stop', ownCluster]);
    rmSync(ownCluster, { recursive: true, force: true });
  });
  return clusterUrl;
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** Creates an empty database on the test cluster. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const admin = baseUrl();
  const name = `t_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/**
 * Ends, from the server side, every connection to the database of `url` whose application_name
 * is `applicationName` (what a server restart or failover does to a pool's idle clients), and
 * waits until the server has let them go.
 */
export async function terminateConnections(url: string, applicationName: string): Promise<number> {
  const c = new pg.Client({ connectionString: baseUrl() });
  await c.connect();
  try {
    const database = new URL(url).pathname.slice(1);
    const { rowCount } = await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2', [database, applicationName]);
    await waitFor(
      async () => {
        const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = $2', [database, applicationName]);
        return rows[0]?.n === 0;
      },
      { what: `the server to let the connections of ${applicationName} go`, timeout: 5_000, interval: 20 },
    );
    return rowCount ?? 0;
  } finally {
    await c.end();
  }
}

/** `url` with `application_name` set, so that a test can find its own connections. */
export function withApplicationName(url: string, applicationName: string): string {
  const u = new URL(url);
  u.searchParams.set('application_name', applicationName);
  return u.toString();
}
