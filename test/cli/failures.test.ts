/**
 * Every start-up failure of the CLI, run as the operator runs it (a child process through the real
 * entry point): exit 2 for usage or configuration, one line that names what failed, where and how
 * to fix it, no stack trace, and the process gone within 2 s of printing it
 * (docs/operations/running.md#when-a-command-fails).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { cliInvocation } from '../../src/io/process.js';
import { freePort, prepareDeployment, type PreparedDeployment } from '../../src/deploy/prepare.js';
import { tempDir } from '../support/tmp.js';

/** How long a failed command may live after its error line. */
const GONE_WITHIN_MS = 2_000;

interface Failure {
  code: number | null;
  stderr: string;
  /** From the first byte on stderr to the process's end. */
  lingeredMs: number;
}

function runCli(args: readonly string[]): Promise<Failure> {
  const cli = cliInvocation(args);
  const child = spawn(cli.command, cli.args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let firstOutputAt = 0;
  child.stderr.on('data', (chunk: Buffer) => {
    firstOutputAt ||= Date.now();
    stderr += chunk.toString();
  });
  // A child that never ends is the failure under test: kill it after a bound and report it.
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(guard);
      resolve({ code, stderr, lingeredMs: firstOutputAt ? Date.now() - firstOutputAt : Number.NaN });
    });
  });
}

function assertOneLine(result: Failure, expectedCode: number, pattern: RegExp): void {
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${result.stderr}`);
  assert.match(lines[0]!, /^stella-gateway [a-z]/);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
  assert.equal(result.code, expectedCode, result.stderr);
  assert.ok(result.lingeredMs < GONE_WITHIN_MS, `the process lived ${result.lingeredMs} ms after its error`);
}

/** Holds a loopback port until closed. */
async function holdPort(port: number): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  return server;
}

describe('a failing command', () => {
  const tmp = tempDir();
  let reference: PreparedDeployment;
  let withStamper: PreparedDeployment;
  const held: Server[] = [];
  before(async () => {
    reference = await prepareDeployment({ topologyFile: 'examples/topology.yaml', workDir: join(tmp.path, 'reference'), freePorts: true });
    // The stamper on TCP (its mTLS form), so an address can be taken away from it.
    const stamperOnTcp = (document: Record<string, unknown>): void => {
      for (const hop of document.hops as { stamp: false | { stamper?: unknown } }[]) if (hop.stamp !== false && hop.stamp.stamper) hop.stamp.stamper = { listen: '127.0.0.1:8600' };
    };
    withStamper = await prepareDeployment({ topologyFile: 'examples/topology-caddy.yaml', workDir: join(tmp.path, 'caddy'), freePorts: true, edit: stamperOnTcp });
  });
  after(async () => {
    await Promise.all(held.map((s) => new Promise((resolve) => s.close(resolve))));
    tmp.remove();
  });
  const busy = async (listen: string): Promise<void> => {
    held.push(await holdPort(Number(listen.split(':').pop())));
  };

  it('serve on an address in use: exit 2, names the address and the fix', async () => {
    const service = reference.topology.services[0]!;
    await busy(service.listen);
    const result = await runCli(['serve', '--topology', reference.topologyFile, '--service', service.id]);
    assertOneLine(result, 2, new RegExp(`^stella-gateway serve: cannot listen on ${service.listen}: address already in use \\(EADDRINUSE\\); stop the process`));
  });

  it('serve --listen nonsense: exit 2 and the process ends', async () => {
    const result = await runCli(['serve', '--topology', reference.topologyFile, '--service', 'evidence-locker', '--listen', 'nonsense']);
    assertOneLine(result, 2, /evidence-locker: listen must be host:port, got "nonsense"/);
  });

  it('pki serve and stamper --listen with an unbracketed IPv6 address, and the stamper on port 0: exit 2, the flag and the expected form', async () => {
    const expected = (given: string, lowest: number): RegExp => new RegExp(`--listen must be host:port \\(an IPv6 host in brackets, a port ${lowest}-65535\\), got "${given.replace(/[.[\]]/g, '\\$&')}"`);
    assertOneLine(await runCli(['pki', 'serve', '--dir', join(tmp.path, 'no-pki'), '--listen', '::1:8600']), 2, expected('::1:8600', 0));
    for (const given of ['::1:8600', '127.0.0.1:0']) {
      assertOneLine(await runCli(['stamper', '--topology', reference.topologyFile, '--hop', 'gw-edge', '--listen', given]), 2, expected(given, 1));
    }
  });

  it('serve with its PostgreSQL down at start: exit 2, names the database and the fix', async () => {
    const document = parse(readFileSync(reference.topologyFile, 'utf8')) as { services: { storage: unknown }[] };
    document.services[0]!.storage = { kind: 'postgres', url: `postgres://stella@127.0.0.1:${await freePort()}/evidence` };
    const file = join(reference.workDir, 'topology-postgres.yaml');
    writeFileSync(file, stringify(document));
    const result = await runCli(['serve', '--topology', file, '--service', 'evidence-locker']);
    assertOneLine(result, 2, /^stella-gateway serve: evidence-locker: cannot open PostgreSQL store: .*ECONNREFUSED.*; start the database or correct services\[\]\.storage\.url/);
  });

  it('stamper on an address in use: exit 2', async () => {
    const hop = withStamper.topology.hops.find((h) => h.stamp !== false && h.stamp.stamper)!;
    const stamper = hop.stamp !== false ? hop.stamp.stamper : undefined;
    const listen = stamper && 'listen' in stamper ? stamper.listen : '';
    await busy(listen);
    const result = await runCli(['stamper', '--topology', withStamper.topologyFile, '--hop', hop.id]);
    assertOneLine(result, 2, new RegExp(`^stella-gateway stamper: cannot listen on ${listen}: address already in use \\(EADDRINUSE\\)`));
  });

  it('pki serve on an address in use: exit 2 and the process ends', async () => {
    const listen = `127.0.0.1:${await freePort()}`;
    await busy(listen);
    const result = await runCli(['pki', 'serve', '--dir', reference.topology.pki.dir, '--listen', listen]);
    assertOneLine(result, 2, new RegExp(`^stella-gateway pki serve: cannot listen on ${listen}: address already in use \\(EADDRINUSE\\)`));
  });

  it('gateway render --out under a file: exit 2, names the path', async () => {
    const file = join(tmp.path, 'a-file');
    writeFileSync(file, 'not a folder\n');
    const result = await runCli(['gateway', 'render', '--topology', reference.topologyFile, '--out', join(file, 'gateways')]);
    assertOneLine(result, 2, new RegExp(`^stella-gateway gateway render: cannot mkdir ${file}/gateways: a part of the path is a file, not a folder \\(ENOTDIR\\)`));
  });

  it('gateway render --out in a folder it may not write: exit 2', async () => {
    // /sys refuses every new folder, also to root (who may write anywhere else).
    const result = await runCli(['gateway', 'render', '--topology', reference.topologyFile, '--out', '/sys/fs/stella-gateways']);
    assertOneLine(result, 2, /^stella-gateway gateway render: cannot mkdir \/sys\/fs\/stella-gateways: (operation not permitted \(EPERM\)|permission denied \(EACCES\)|read-only file system \(EROFS\))/);
  });

  it('scanner status on a file that is not an outbox: exit 2, says so', async () => {
    const file = join(tmp.path, 'notes.txt');
    writeFileSync(file, 'hello\n');
    const result = await runCli(['scanner', 'status', '--outbox', file]);
    assertOneLine(result, 2, /^stella-gateway scanner status: SCANNER_OUTBOX: cannot open outbox .*notes\.txt: /);
  });

  it('scanner status on an empty SQLite file: exit 2, not an outbox', async () => {
    const file = join(tmp.path, 'empty.db');
    writeFileSync(file, '');
    const result = await runCli(['scanner', 'status', '--outbox', file]);
    assertOneLine(result, 2, /the file is not an outbox \(no items table\)/);
  });

  it('scanner run with a file as spool: exit 2 before the worker starts', async () => {
    const file = join(tmp.path, 'spool-file');
    writeFileSync(file, '');
    const result = await runCli(['scanner', 'run', '--topology', reference.topologyFile, '--scanner', 'scanner-01', '--spool', file, '--outbox', join(tmp.path, 'outbox.db')]);
    assertOneLine(result, 2, /^stella-gateway scanner run: --spool .*spool-file: not a folder/);
  });

  it('probe --scanner unknown: exit 2, lists the scanners', async () => {
    const result = await runCli(['probe', '--topology', reference.topologyFile, '--scanner', 'nobody']);
    assertOneLine(result, 2, /^stella-gateway probe: --scanner nobody: no such scanner in .*; choose one of scanner-01, scanner-02$/);
  });
});
