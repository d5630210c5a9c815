/**
 * The forward-auth stamper reached by anything but its own gateway (docs/provenance.md#the-forward-auth-stamper):
 * the real `stella-gateway stamper` process on its Unix socket (another account is refused by the
 * kernel; planted symlinks, open folders and live sockets are refused; a stale socket is replaced)
 * and on mTLS (a scanner certificate, another hop's gateway certificate and no certificate are
 * refused and counted).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { prepareDeployment, type PreparedDeployment } from '../../src/deploy/prepare.js';
import { contentDigestOf } from '../../src/provenance/digest.js';
import { freePort } from '../support/programs.js';
import { tempDir } from '../support/tmp.js';

const NOBODY = { uid: 65534, gid: 65534 };
const WWW_DATA = { uid: 33, gid: 33 };
const body = Buffer.from('{"artifact":1}');

/** A topology whose edge (Caddy) stamps through the stamper described by `stamper`. */
function topologyText(stamper: string): string {
  return [
    'apiVersion: stella-gateway/v1',
    'kind: Topology',
    'name: stamper-listen',
    'trustDomain: stella.local',
    'pki: { dir: ./pki }',
    'scanners: [ { id: scanner-01, edge: gw-edge, signing: { keys: [ { kid: s, file: ./keys/scanner.key } ] } } ]',
    'hops:',
    `  - { id: gw-edge, kind: caddy, listen: 127.0.0.1:18443, stamp: { via: forward-auth, keys: [ { kid: edge-1, file: ./keys/edge.key } ], stamper: ${stamper} }, next: gw-internal }`,
    '  - { id: gw-internal, kind: haproxy, listen: 127.0.0.1:18444, stamp: { via: native, keys: [ { kid: int-1, file: ./keys/internal.key } ] }, next: evidence-locker }',
    'services: [ { id: evidence-locker, kind: scanner-webservice, listen: 127.0.0.1:19443 } ]',
    '',
  ].join('\n');
}

async function deployment(dir: string, stamper: string): Promise<PreparedDeployment> {
  mkdirSync(dir, { recursive: true });
  const source = join(dir, 'source.yaml');
  writeFileSync(source, topologyText(stamper));
  return prepareDeployment({ topologyFile: source, workDir: join(dir, 'deployment') });
}

/** `stella-gateway stamper …` as its own process; resolves once it says it listens, or it exits. */
function startStamper(args: string[]): { child: ChildProcess; ready: Promise<void>; exited: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', "const { main } = await import('./src/cli/main.ts'); process.exitCode = await main(process.argv.slice(1));", 'stamper', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('listening on')) resolve();
    });
    void exited.then((code) => reject(new Error(`stamper exited ${code}: ${stderr}`)));
  });
  ready.catch(() => undefined);
  return { child, ready, exited, stderr: () => stderr };
}

async function stop(stamper: { child: ChildProcess; exited: Promise<number | null> }): Promise<number | null> {
  if (stamper.child.exitCode === null) stamper.child.kill('SIGTERM');
  return stamper.exited;
}

/** Connects to a Unix socket as another account; resolves with the error code, or 'connected'. */
function connectAs(account: { uid: number; gid: number }, socket: string): Promise<string> {
  const script = "const s = require('net').connect(process.argv[1]); s.on('connect', () => { console.log('connected'); s.destroy(); }); s.on('error', (e) => console.log(e.code));";
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, socket], { ...account, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', () => resolve(out.trim()));
  });
}

async function metricsText(port: number): Promise<string> {
  const res = await request(`http://127.0.0.1:${port}/metrics`);
  return res.body.text();
}

function refusals(text: string, reason: string): number {
  const line = text.split('\n').find((l) => l.startsWith('stella_stamper_refusals_total{') && l.includes(`reason="${reason}"`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('the stamper on its Unix socket', () => {
  const work = tempDir('stella-stamper-sock-');
  let dep: PreparedDeployment;
  const socket = (): string => join(dep.workDir, 'run', 'gw-edge', 'stamper.sock');
  before(async () => {
    // The test folder is made traversable so that the socket's own folder and mode are what keep
    // other accounts out, not mkdtemp's 0700.
    chmodSync(work.path, 0o755);
    dep = await deployment(work.path, '{ socket: ./run/gw-edge/stamper.sock }');
    chmodSync(join(work.path, 'deployment'), 0o755);
  });
  after(() => work.remove());

  it('makes its folder 0700 and its socket 0600, stamps over it, and removes it on SIGTERM', async () => {
    const stamper = startStamper(['--topology', dep.topologyFile, '--hop', 'gw-edge']);
    try {
      await stamper.ready;
      assert.equal(lstatSync(join(dep.workDir, 'run', 'gw-edge')).mode & 0o777, 0o700);
      assert.equal(lstatSync(socket()).mode & 0o777, 0o600);
      const agent = new Agent({ connect: { socketPath: socket() } });
      const scannerDer = new X509Certificate(readFileSync(dep.topology.scanners[0]!.tls.chain)).raw;
      const res = await request('http://stamper/stamp', {
        dispatcher: agent,
        headers: { 'x-stella-scan-id': 'scan-0001', 'content-digest': contentDigestOf(body), 'x-original-method': 'POST', 'x-original-uri': '/x', 'client-cert': `:${scannerDer.toString('base64')}:` },
      });
      await res.body.dump();
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['x-stella-provenance']), /^gw-edge;seq=1;ts=\d+;nonce="[0-9a-f]{32}";peer="sha256:[0-9a-f]{64}";peer-id="scanner-01";kid="edge-1";mac=:/);
      await agent.close();
    } finally {
      assert.equal(await stop(stamper), 0, stamper.stderr());
    }
    assert.equal(existsSync(socket()), false, 'the socket file is gone after a clean stop');
  });

  it('is refused by the kernel to any other account (EACCES), and admits the gatewayUser it was handed to', async () => {
    const stamper = startStamper(['--topology', dep.topologyFile, '--hop', 'gw-edge']);
    try {
      await stamper.ready;
      assert.equal(await connectAs(NOBODY, socket()), 'EACCES');
      assert.equal(await connectAs(WWW_DATA, socket()), 'EACCES');
    } finally {
      assert.equal(await stop(stamper), 0, stamper.stderr());
    }

    const handed = await deployment(join(work.path, 'handed'), '{ socket: ./run/gw-edge/stamper.sock, gatewayUser: nobody }');
    chmodSync(join(work.path, 'handed'), 0o755);
    chmodSync(handed.workDir, 0o755);
    const handedSocket = join(handed.workDir, 'run', 'gw-edge', 'stamper.sock');
    const second = startStamper(['--topology', handed.topologyFile, '--hop', 'gw-edge']);
    try {
      await second.ready;
      const stat = lstatSync(handedSocket);
      assert.deepEqual([stat.uid, stat.mode & 0o777], [NOBODY.uid, 0o600]);
      assert.equal(await connectAs(NOBODY, handedSocket), 'connected');
      assert.equal(await connectAs(WWW_DATA, handedSocket), 'EACCES');
    } finally {
      assert.equal(await stop(second), 0, second.stderr());
    }
  });

  it('replaces a stale socket left by a killed run, and refuses a socket a running stamper holds', async () => {
    const first = startStamper(['--topology', dep.topologyFile, '--hop', 'gw-edge']);
    await first.ready;
    first.child.kill('SIGKILL');
    await first.exited;
    assert.equal(lstatSync(socket()).isSocket(), true, 'SIGKILL leaves the socket file behind');

    const second = startStamper(['--topology', dep.topologyFile, '--hop', 'gw-edge']);
    try {
      await second.ready;
      const third = startStamper(['--topology', dep.topologyFile, '--hop', 'gw-edge']);
      assert.equal(await third.exited, 2);
      assert.match(third.stderr(), /in use by a running stamper/);
    } finally {
      assert.equal(await stop(second), 0, second.stderr());
    }
  });

  it('refuses to bind through a planted symlink or in a folder others can open', async () => {
    const target = join(work.path, 'elsewhere');
    mkdirSync(join(dep.workDir, 'run', 'gw-edge'), { recursive: true, mode: 0o700 });
    symlinkSync(target, socket());
    const planted = startStamper(['--topology', dep.topologyFile, '--hop', 'gw-edge']);
    assert.equal(await planted.exited, 2);
    assert.match(planted.stderr(), /is a symlink; refusing to bind through it/);
    assert.equal(existsSync(target), false, 'nothing was created where the link points');

    const open = join(work.path, 'open');
    mkdirSync(open, { mode: 0o755 });
    chmodSync(open, 0o755);
    const shared = startStamper(['--topology', dep.topologyFile, '--hop', 'gw-edge', '--socket', join(open, 'stamper.sock')]);
    assert.equal(await shared.exited, 2);
    assert.match(shared.stderr(), /is open to others \(mode 755\)/);
    assert.equal((lstatSync(open).mode & 0o777), 0o755, 'a folder it did not make is never repaired');
  });
});

describe('the stamper on mTLS', () => {
  const work = tempDir('stella-stamper-mtls-');
  let dep: PreparedDeployment;
  let port = 0;
  let metricsPort = 0;
  let stamper: ReturnType<typeof startStamper>;
  const agents: Agent[] = [];

  function agentAs(role: 'gateway' | 'scanner' | null, name?: string): Agent {
    const ca = readFileSync(dep.topology.pki.caBundle);
    const tls = role === null ? {} : { cert: readFileSync(join(dep.topology.pki.dir, 'issued', role, name!, 'chain.pem')), key: readFileSync(join(dep.topology.pki.dir, 'issued', role, name!, 'key.pem')) };
    const agent = new Agent({ connect: { ca, servername: 'gw-edge', ...tls } });
    agents.push(agent);
    return agent;
  }
  const stampHeaders = (): Record<string, string> => {
    const der = new X509Certificate(readFileSync(dep.topology.scanners[0]!.tls.chain)).raw;
    return { 'x-stella-scan-id': 'scan-0001', 'content-digest': contentDigestOf(body), 'x-original-method': 'POST', 'x-original-uri': '/x', 'client-cert': `:${der.toString('base64')}:` };
  };

  before(async () => {
    [port, metricsPort] = [await freePort(), await freePort()];
    dep = await deployment(work.path, `{ listen: 127.0.0.1:${port} }`);
    stamper = startStamper(['--topology', dep.topologyFile, '--hop', 'gw-edge', '--metrics-listen', `127.0.0.1:${metricsPort}`]);
    await stamper.ready;
  });
  after(async () => {
    await Promise.all(agents.map((a) => a.close()));
    if (stamper) assert.equal(await stop(stamper), 0, stamper.stderr());
    work.remove();
  });

  it("stamps for its own gateway's certificate", async () => {
    const res = await request(`https://127.0.0.1:${port}/stamp`, { dispatcher: agentAs('gateway', 'gw-edge'), headers: stampHeaders() });
    await res.body.dump();
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['x-stella-provenance']), /^gw-edge;seq=1;/);
  });

  it("refuses a scanner's certificate and another hop's gateway certificate with 403 untrusted-peer, and counts both", async () => {
    const before = refusals(await metricsText(metricsPort), 'not-own-gateway');
    for (const [role, name] of [['scanner', 'scanner-01'], ['gateway', 'gw-internal']] as const) {
      const res = await request(`https://127.0.0.1:${port}/stamp`, { dispatcher: agentAs(role, name), headers: stampHeaders() });
      const problem = (await res.body.json()) as { code: string; status: number };
      assert.equal(res.statusCode, 403, `${role} ${name}`);
      assert.equal(problem.code, 'untrusted-peer');
      assert.equal(res.headers['x-stella-provenance'], undefined, 'no record is handed out');
    }
    assert.equal(refusals(await metricsText(metricsPort), 'not-own-gateway'), before + 2);
  });

  it('refuses a client without a certificate at the handshake, and counts it', async () => {
    const before = refusals(await metricsText(metricsPort), 'tls-handshake');
    await assert.rejects(
      request(`https://127.0.0.1:${port}/stamp`, { dispatcher: agentAs(null), headers: stampHeaders() }).then((res) => res.body.dump()),
      (error: Error & { code?: string }) => /certificate|socket|ECONNRESET|closed/i.test(`${error.message} ${error.code ?? ''} ${String((error.cause as Error | undefined)?.message)}`),
    );
    assert.equal(refusals(await metricsText(metricsPort), 'tls-handshake'), before + 1);
  });

  it('counts stamp refusals by their provenance code too', async () => {
    const res = await request(`https://127.0.0.1:${port}/stamp`, { dispatcher: agentAs('gateway', 'gw-edge'), headers: { ...stampHeaders(), 'x-stella-scan-id': 'bad scan id' } });
    assert.equal(res.statusCode, 403);
    assert.equal(((await res.body.json()) as { code: string }).code, 'provenance-malformed');
    assert.equal(refusals(await metricsText(metricsPort), 'provenance-malformed'), 1);
  });
});
