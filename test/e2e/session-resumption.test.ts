/**
 * docs/operations/certificates.md#sessions: no TLS session outlives its certificate. A resumed
 * session skips certificate verification, so every client-authenticated listener of the reference
 * chain (NGINX edge, Apache WAF, HAProxy, the Evidence Locker's Node listener) must refuse to
 * resume. Each is reached directly with a short-lived leaf of the identity it admits: a full
 * handshake and request while the leaf is valid (the control), then — once it has expired — a
 * second connection offering the saved session (ticket or session id), over TLS 1.2 and 1.3.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { issueCertificate, type PkiRole } from '../../src/pki/index.js';
import { REFERENCE_TOPOLOGY, startChain, type Chain } from '../support/chain.js';
import { letTimePass } from '../support/wait.js';
import { recordFault } from '../faults/support/figures.js';

/** Long enough for every first handshake to finish while the leaves are valid, on a loaded CI machine. */
const LEAF_LIFETIME_MS = 8_000;
const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
type TlsVersion = (typeof TLS_VERSIONS)[number];

interface Target {
  /** The part reached, as the test names it. */
  name: string;
  listen: string;
  serverName: string;
  /** The identity this part admits (docs/gateways/README.md): role and CN. */
  role: PkiRole;
  cn: string;
  path: string;
}

/** What one connection gave. */
interface Outcome {
  status: number | null;
  error: string | null;
  reused: boolean;
  /** The last session (ticket or id) the server offered on this connection, if any. */
  session: Buffer | undefined;
}

let chain: Chain;
let notAfter: Date;
const leaves = new Map<string, { cert: Buffer; key: Buffer }>();
const firsts = new Map<string, Outcome>();
let ca: Buffer;

function targets(): Target[] {
  const hop = (id: string) => {
    const found = chain.topology.hops.find((h) => h.id === id);
    if (!found) throw new TypeError(`no hop ${id}`);
    return found;
  };
  const locker = chain.topology.services[0]!;
  return [
    { name: 'the NGINX edge', listen: hop('gw-edge').listen, serverName: hop('gw-edge').serverName, role: 'scanner', cn: 'scanner-01', path: '/healthz/hop/gw-edge' },
    { name: 'the Apache WAF', listen: hop('waf').listen, serverName: hop('waf').serverName, role: 'gateway', cn: 'gw-edge', path: '/healthz/hop/waf' },
    { name: 'the HAProxy hop', listen: hop('gw-internal').listen, serverName: hop('gw-internal').serverName, role: 'gateway', cn: 'waf', path: '/healthz/hop/gw-internal' },
    { name: 'the Evidence Locker (Node)', listen: locker.listen, serverName: locker.serverName, role: 'gateway', cn: 'gw-internal', path: '/healthz/live' },
  ];
}

const key = (target: Target, version: TlsVersion): string => `${target.name} ${version}`;

/** One GET on a fresh connection, offering `session` when given; never throws. */
function get(target: Target, version: TlsVersion, session?: Buffer): Promise<Outcome> {
  const leaf = leaves.get(target.name)!;
  const url = new URL(`https://${target.listen}${target.path}`);
  return new Promise((resolve) => {
    let reused = false;
    let offered: Buffer | undefined;
    const done = (status: number | null, error: string | null): void => resolve({ status, error, reused, session: offered });
    const req = httpsRequest(
      {
        host: url.hostname,
        port: url.port,
        path: target.path,
        headers: { host: target.serverName },
        servername: target.serverName,
        agent: false,
        ca,
        cert: leaf.cert,
        key: leaf.key,
        minVersion: version,
        maxVersion: version,
        ...(session ? { session } : {}),
        timeout: 10_000,
      },
      (res) => {
        res.resume();
        // Tickets of TLS 1.3 may arrive after the response headers: read the body, then settle. A
        // server may send no ticket at all, so there is nothing to wait for but a little time.
        res.once('end', () => void letTimePass(100, 'late TLS 1.3 session tickets').then(() => done(res.statusCode ?? null, null)));
      },
    );
    req.once('socket', (socket) => {
      const tls = socket as TLSSocket;
      tls.on('session', (s: Buffer) => (offered = s));
      tls.once('secureConnect', () => (reused = tls.isSessionReused()));
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', (error: NodeJS.ErrnoException) => done(null, error.code ?? error.message));
    req.end();
  });
}

before(async () => {
  chain = await startChain(REFERENCE_TOPOLOGY);
  ca = await readFile(chain.topology.pki.caBundle);
  const now = Date.now();
  notAfter = new Date(Math.floor((now + LEAF_LIFETIME_MS) / 1000) * 1000);
  for (const target of targets()) {
    const leaf = await issueCertificate({ dir: chain.topology.pki.dir, role: target.role, name: target.cn, notBefore: new Date(now - 60_000), notAfter, write: false });
    leaves.set(target.name, { cert: Buffer.from(leaf.chainPem), key: Buffer.from(leaf.keyPem!) });
  }
  // The first connections, all while the leaves are valid.
  for (const target of targets()) for (const version of TLS_VERSIONS) firsts.set(key(target, version), await get(target, version));
  const wait = notAfter.getTime() + 1_500 - Date.now();
  // Real gateways read the real clock: the leaves must really have expired (no fake clock there).
  if (wait > 0) await letTimePass(wait, 'the client leaves to expire');
});
after(async () => {
  if (chain) await chain.close();
});

describe('a client certificate that expired after its TLS session began', () => {
  for (const version of TLS_VERSIONS) {
    for (const name of ['the NGINX edge', 'the Apache WAF', 'the HAProxy hop', 'the Evidence Locker (Node)']) {
      it(`cannot resume its session at ${name} over ${version}: no resumption, the request refused`, async () => {
        const target = targets().find((t) => t.name === name)!;
        const first = firsts.get(key(target, version))!;
        assert.equal(first.status, 200, `the control: the valid leaf is admitted (${first.error ?? ''})\n${chain.logTails()}`);
        assert.equal(first.reused, false);
        assert.ok(Date.now() > notAfter.getTime(), 'the leaf has expired');

        const second = await get(target, version, first.session);
        const refused = second.status === null ? Boolean(second.error) : second.status === 400;
        recordFault({
          case: `expired certificate, resumed TLS session at ${name} over ${version}`,
          target: 'the saved session is not resumed and the request is refused',
          met: !second.reused && refused,
          figures: { firstStatus: first.status ?? 'handshake failed', resumed: second.reused ? 'yes' : 'no', secondStatus: second.status ?? 'handshake failed' },
        });
        assert.equal(second.reused, false, `${name} resumed a session of an expired certificate`);
        // Refused: NGINX answers 400 to a bad certificate (notes/gateways.md); the others fail the handshake.
        if (second.status !== null) assert.equal(second.status, 400, `${name} answered ${second.status}`);
        else assert.ok(second.error, 'the handshake failed');
      });
    }
  }

  it('never reached the Evidence Locker with the expired leaf: the WAF logged none of the refused requests', async () => {
    // The control requests are logged with the WAF's own health path; the resumed ones never got past TLS.
    const log = await readFile(`${chain.deployment.gatewaysDir}/waf/logs/access.log`, 'utf8');
    const healthLines = log.split('\n').filter((line) => line.includes('/healthz/hop/waf'));
    assert.equal(healthLines.length, TLS_VERSIONS.length, log);
  });
});
