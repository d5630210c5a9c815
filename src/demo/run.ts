/**
 * `stella-gateway demo` (the README's main command): a whole deployment from
 * `examples/topology.yaml` (or `--topology`) in a temp folder — generated PKI and keys, rendered configs, real
 * NGINX, Apache+ModSecurity+CRS and HAProxy, the Evidence Locker on SQLite — then sample
 * artifacts delivered through it (statement, then the file itself, read back through the chain),
 * their verified hop chains and receipts printed, two forged requests and a stolen signing key
 * shown being rejected with their codes, and the probe table.
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import { parseHostPort } from '../conventions/index.js';
import { loadKeyFile, parseEnvelope } from '../dsse/index.js';
import { verifyReceipt, type VerifiedReceipt } from '../evidence/receipt.js';
import { computeMac, contentDigestOf, macInput, serializeProvenanceHeader, type HopRecord } from '../provenance/index.js';
import { certificateFingerprint } from '../pki/index.js';
import { deliveryOptionsFor } from '../scanner/config.js';
import { Outbox } from '../scanner/outbox.js';
import { submitArtifacts } from '../scanner/submit.js';
import { fetchArtifactDigest } from '../scanner/http.js';
import { probeTopology, type ProbeResult } from '../probes/probe.js';
import { prepareDeployment } from '../deploy/prepare.js';
import { startDeployment, type Deployment } from '../deploy/start.js';
import type { ResolvedScanner, ResolvedService, ResolvedTopology } from '../topology/resolve.js';
import { formatTable } from '../cli/output.js';
import { GUARDED_SERVICE_KINDS } from '../topology/schema.js';
import { registryScene, type RegistryOutcome } from './registry.js';

const repoRoot = resolvePath(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The topology the demo deploys. */
export const DEMO_TOPOLOGY = join(repoRoot, 'examples', 'topology.yaml');
/** The sample artifacts it submits. */
export const DEMO_ARTIFACTS = join(repoRoot, 'examples', 'artifacts');

export interface DemoOptions {
  readonly topologyFile?: string;
  /** Deployment folder; default a new temp folder. */
  readonly dir?: string;
  /** Leave everything running and print how to talk to it. */
  readonly keep?: boolean;
  /** Where the demo writes its story. */
  readonly print: (text: string) => void;
}

/** What happened, for `--json` and for tests. */
export interface DemoOutcome {
  readonly ok: boolean;
  readonly workDir: string;
  readonly delivered: {
    file: string;
    envelopeSha256: string;
    receipt: VerifiedReceipt['predicate'];
    /** SHA-256 of the file as the statement names it and the locker stored it. */
    artifactSha256: string;
    /** SHA-256 of the bytes read back through the chain (`GET /api/v1/artifacts/{sha256}`). */
    fetchedSha256: string;
  }[];
  /** The registry scene, when the topology has an `oci-registry` (docs/services.md#the-guard). */
  readonly registry?: RegistryOutcome;
  readonly rejections: { attempt: string; status: number; code: string; expected: string }[];
  readonly probe: ProbeResult;
  /** Still running when `keep` was asked for; stop it with `stop()`. */
  readonly deployment?: Deployment;
}

/** Runs the demo. Never leaves processes behind unless `keep` is set. */
export async function runDemo(options: DemoOptions): Promise<DemoOutcome> {
  const print = options.print;
  const workDir = options.dir ?? (await mkdtemp(join(tmpdir(), 'stella-demo-')));
  print(`Deployment folder: ${workDir}`);
  print('Generating a PKI (root + issuing CA, one leaf per scanner, hop and service), MAC and signing keys…');
  const prepared = await prepareDeployment({ topologyFile: options.topologyFile ?? DEMO_TOPOLOGY, workDir, freePorts: true });
  const topology = prepared.topology;
  print(`\nThe chain (${topology.name}):\n  ${chainPicture(topology)}\n`);
  print('Rendering gateway configs and starting the real programs…');
  const deployment = await startDeployment(prepared);
  let keepRunning = false;
  try {
    const parts = [
      ...topology.hops.map((h) => [h.id, h.kind, `https://${h.listen}`, `pid ${deployment.gateways.get(h.id)?.pid}`]),
      ...topology.services.map((s) => [s.id, s.kind, `https://${s.listen}`, `pid ${deployment.services.get(s.id)?.pid}`]),
    ];
    print(indent(formatTable(['part', 'kind', 'listens on', 'process'], parts), 2));

    // A topology may lead to a locker, to a registry behind its guard, or to both.
    const hasLocker = topology.services.some((s) => s.kind === 'evidence-locker');
    const delivered = hasLocker ? await deliverSamples(topology, workDir, print) : [];
    const registryService = topology.services.find((s) => GUARDED_SERVICE_KINDS.has(s.kind));
    const registry = registryService ? await registryScene(topology, registryService, DEMO_ARTIFACTS, print) : undefined;
    const rejections = [...(await forgedRequests(topology, print)), ...(await stolenKey(topology, print))];
    print('\nProbe of every part (stella-gateway probe):');
    const probe = await probeTopology(topology);
    print(formatTable(['part', 'kind', 'status', 'latency', 'cert expires'], probe.rows.map((r) => [r.id, r.kind, r.status.toUpperCase(), r.latencyMs === null ? '-' : `${r.latencyMs} ms`, r.certificateExpiry ?? '-'])));

    const ok = (!hasLocker || (delivered.length > 0 && delivered.every((d) => d.fetchedSha256 === d.artifactSha256))) && (!registryService || registry !== undefined) && rejections.every((r) => r.code === r.expected) && probe.ok;
    print(`\n${ok ? 'Demo complete: evidence delivered with a verified chain, forgeries rejected.' : 'Demo FAILED: see above.'}`);
    if (options.keep) {
      keepRunning = true;
      print(keepInstructions(prepared.topologyFile, topology));
      return { ok, workDir, delivered, ...(registry ? { registry } : {}), rejections, probe, deployment };
    }
    return { ok, workDir, delivered, ...(registry ? { registry } : {}), rejections, probe };
  } finally {
    if (!keepRunning) {
      await deployment.stop();
      if (!options.dir) await rm(workDir, { recursive: true, force: true });
    }
  }
}

/** `scanner-01 ─▶ gw-edge [nginx, stamps 1] ─▶ …` */
export function chainPicture(topology: ResolvedTopology): string {
  return topology.services
    .map((service) => {
      const scanners = topology.scanners.filter((s) => s.edge === service.chain[0]?.id).map((s) => s.id);
      const hops = service.chain.map((h) => `${h.id} [${h.kind}, ${h.stamp === false ? 'opaque' : `stamps seq ${h.stampSeq}`}]`);
      return [scanners.join('|'), ...hops, `${service.id} [${service.kind}]`].join(' ─mTLS─▶ ');
    })
    .join('\n  ');
}

async function deliverSamples(topology: ResolvedTopology, workDir: string, print: (t: string) => void): Promise<DemoOutcome['delivered']> {
  const scanner = lockerScannerOf(topology);
  if (!scanner) throw new TypeError('the topology has no scanner');
  const files = (await readdir(DEMO_ARTIFACTS)).sort().map((f) => join(DEMO_ARTIFACTS, f));
  const scanId = `demo-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '')}-${randomBytes(2).toString('hex')}`;
  print(`\nScanner ${scanner.id} signs a statement for each of ${files.length} artifact(s) (DSSE envelope naming the file's SHA-256, scan ${scanId})`);
  print('and sends the statement, then the file itself, through the edge…');
  const setup = await deliveryOptionsFor(topology, scanner.id);
  const outbox = Outbox.open(join(workDir, 'scanner', `${scanner.id}-outbox.db`));
  const delivered: DemoOutcome['delivered'] = [];
  try {
    const results = await submitArtifacts({ ...setup, outbox, scanId, files, maxAttempts: 3 });
    const service = lockerOf(topology);
    const receiptKey = service?.receiptKey ? await loadKeyFile(`${service.receiptKey}.pub`) : undefined;
    for (const result of results) {
      if (result.state !== 'delivered' || !result.envelopeSha256) {
        print(`  ${result.name}: ${result.state} ${result.code ?? ''} ${result.message ?? ''}`);
        continue;
      }
      const item = outbox.get(result.itemId);
      if (!item?.receipt || !receiptKey) throw new Error(`no receipt stored for ${result.name}`);
      const receipt = await verifyReceipt(parseEnvelope(item.receipt), { publicKey: receiptKey, expectedEnvelopeSha256: result.envelopeSha256 });
      // The evidence itself: read back through the whole chain and hashed (docs/services.md#artifacts).
      const fetched = await fetchArtifactDigest(setup.pool.agentFor(setup.credentials.current()), setup.endpoint, scanId, result.artifactSha256);
      delivered.push({ file: result.name, envelopeSha256: result.envelopeSha256, receipt: receipt.predicate, artifactSha256: result.artifactSha256, fetchedSha256: fetched.sha256 });
      print(`\n  ${result.name} → stored, envelope sha256 ${result.envelopeSha256}`);
      print(`  ${result.name} itself → stored as artifact sha256 ${result.artifactSha256} (${item.bytes.length} bytes)`);
      print(`  fetched back through the chain: ${fetched.size} bytes, sha256 ${fetched.sha256 === result.artifactSha256 ? 'matches the signed subject' : `${fetched.sha256} DOES NOT MATCH`}`);
      print(`  Verified hop chain (from the receipt signed by ${service?.id}, key ${receipt.keyid.slice(0, 16)}…):`);
      const rows = receipt.predicate.hops.map((h) => [String(h.seq), h.id, h.peerId, `${h.peer.slice(0, 23)}…`, h.kid, new Date(h.ts * 1000).toISOString()]);
      print(indent(formatTable(['seq', 'hop', 'peer-id', 'peer (client cert)', 'kid', 'stamped at'], rows), 4));
      const who = receipt.predicate.scanner;
      if (who) print(`    sent by ${who.id} (${who.spiffeId}): its certificate ${who.certificateSha256.slice(0, 23)}… at the edge, its key ${who.keyids.join(', ')} on the envelope`);
      const v = receipt.predicate.verification;
      print(`    provenance ${v.provenance}, binding ${v.binding}, envelope ${v.envelope.result} by ${v.envelope.acceptedKeyids.join(', ')} (threshold ${v.envelope.threshold}), received ${receipt.predicate.receivedAt}`);
    }
  } finally {
    outbox.close();
    await setup.close();
  }
  return delivered;
}

/**
 * Two forgeries sent straight to the service (the locker, or a registry's guard), around the gateways:
 * with the scanner's own certificate (a bypass), and with the last gateway's certificate and
 * well-formed records whose MACs were made with a key the attacker guessed.
 */
async function forgedRequests(topology: ResolvedTopology, print: (t: string) => void): Promise<DemoOutcome['rejections']> {
  const service = lockerOf(topology);
  const scanner = lockerScannerOf(topology);
  const last = service?.chain.at(-1);
  if (!service || !scanner || !last) return [];
  print(`\nForged requests sent straight to ${service.id}, around the gateways:`);
  const body = Buffer.from('{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"AAAA"}]}');
  const forgedHeader = await forgedProvenance(topology, service, scanner.tls.cert);
  const attempts = [
    { attempt: `bypass: ${scanner.id}'s certificate, no gateway`, files: scanner.tls, expected: 'untrusted-peer' },
    { attempt: `forged records with ${last.id}'s certificate`, files: last.upstreamTls, expected: 'provenance-tampered' },
  ];
  const outcome: DemoOutcome['rejections'] = [];
  const ca = await readFile(topology.pki.caBundle);
  for (const a of attempts) {
    const agent = new Agent({ connect: { ca, cert: await readFile(a.files.chain), key: await readFile(a.files.key), servername: service.serverName } });
    try {
      const res = await request(`https://${service.listen}/api/v1/evidence`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json', 'x-stella-scan-id': 'forged-scan', 'x-stella-provenance': forgedHeader },
        body,
      });
      const problem = (await res.body.json().catch(() => ({}))) as { code?: string };
      const code = problem.code ?? '(none)';
      outcome.push({ attempt: a.attempt, status: res.statusCode, code, expected: a.expected });
      print(`  ${a.attempt}: HTTP ${res.statusCode} ${code}${code === a.expected ? '' : `  (expected ${a.expected}!)`}`);
    } catch (error) {
      outcome.push({ attempt: a.attempt, status: 0, code: `refused: ${(error as Error).message}`, expected: a.expected });
      print(`  ${a.attempt}: refused at TLS: ${(error as Error).message}`);
    } finally {
      await agent.close();
    }
  }
  return outcome;
}

/**
 * A scanner with a valid certificate of its own signs with another scanner's key and sends
 * through the real chain: only the keys of the scanner the edge saw count (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes).
 */
async function stolenKey(topology: ResolvedTopology, print: (t: string) => void): Promise<DemoOutcome['rejections']> {
  const [owner, thief] = topology.scanners;
  const edge = topology.hops.find((h) => h.id === thief?.edge);
  if (!owner || !thief || !edge || owner.edge !== thief.edge) return [];
  print(`\nThrough the chain: ${thief.id}'s certificate with an envelope signed by ${owner.id}'s key:`);
  const setup = await deliveryOptionsFor(topology, owner.id);
  const ca = await readFile(topology.pki.caBundle);
  const agent = new Agent({ connect: { ca, cert: await readFile(thief.tls.chain), key: await readFile(thief.tls.key), servername: edge.serverName } });
  const attempt = `${thief.id}'s certificate, ${owner.id}'s key`;
  const expected = 'envelope-invalid';
  try {
    const scanId = `demo-stolen-${randomBytes(3).toString('hex')}`;
    const body = Buffer.from(
      await setup.createEnvelope({
        artifact: { name: 'stolen.json', sha256: randomBytes(32).toString('hex') },
        intent: {
          scanId,
          topology: topology.name,
          edgeHop: edge.id,
          clientCertSha256: certificateFingerprint(await readFile(thief.tls.cert, 'utf8')),
          nonce: randomBytes(16).toString('hex'),
          issuedAt: new Date().toISOString(),
        },
      }),
    );
    const { port } = parseHostPort(edge.listen);
    const res = await request(`https://${edge.listen}/api/v1/evidence`, {
      method: 'POST',
      dispatcher: agent,
      headers: { host: `${edge.serverName}:${port}`, 'content-type': 'application/json', 'content-digest': contentDigestOf(body), 'x-stella-scan-id': scanId },
      body,
    });
    const code = ((await res.body.json().catch(() => ({}))) as { code?: string }).code ?? '(none)';
    print(`  ${attempt}: HTTP ${res.statusCode} ${code}${code === expected ? '' : `  (expected ${expected}!)`}`);
    return [{ attempt, status: res.statusCode, code, expected }];
  } finally {
    await agent.close();
    await setup.close();
  }
}

/** Records shaped exactly like the real chain's, MACed with a random key the attacker made up. */
async function forgedProvenance(topology: ResolvedTopology, service: ResolvedService, scannerCert: string): Promise<string> {
  const guessedKey = randomBytes(32);
  const ts = Math.floor(Date.now() / 1000);
  const peer = certificateFingerprint(await readFile(scannerCert, 'utf8'));
  const records: HopRecord[] = [];
  let previous: string | null = null;
  const stamping = service.chain.filter((h) => h.stamp !== false);
  for (const hop of stamping) {
    const index = service.chain.indexOf(hop);
    const peerId = index === 0 ? (lockerScannerOf(topology)?.id ?? '') : (service.chain[index - 1]?.id ?? '');
    const kid = hop.stamp === false ? '' : (hop.stamp.keys.at(-1)?.kid ?? '');
    const record: HopRecord = { hop: hop.id, seq: hop.stampSeq ?? 0, ts, nonce: randomBytes(16).toString('hex'), peer, peerId, kid, mac: new Uint8Array(32) };
    const request = { method: 'POST', pathAndQuery: '/api/v1/evidence', scanId: 'forged-scan', contentDigest: null };
    const input = macInput({ ...record, request, previousMac: previous });
    record.mac = computeMac(guessedKey, input);
    previous = Buffer.from(record.mac).toString('base64');
    records.push(record);
  }
  return serializeProvenanceHeader(records);
}

function lockerOf(topology: ResolvedTopology): ResolvedService | undefined {
  return topology.services.find((s) => s.kind === 'evidence-locker') ?? topology.services[0];
}

/** A scanner whose chain leads to the locker (on a topology with several edges, not just the first). */
function lockerScannerOf(topology: ResolvedTopology): ResolvedScanner | undefined {
  const edge = lockerOf(topology)?.chain[0]?.id;
  return topology.scanners.find((s) => s.edge === edge) ?? topology.scanners[0];
}

function indent(text: string, spaces: number): string {
  return text
    .split('\n')
    .map((l) => ' '.repeat(spaces) + l)
    .join('\n');
}

function keepInstructions(topologyFile: string, topology: ResolvedTopology): string {
  const scanner = lockerScannerOf(topology);
  const edge = topology.hops.find((h) => h.id === scanner?.edge);
  return [
    '\nThe deployment keeps running (stop it with Ctrl-C). Talk to it with:',
    `  stella-gateway probe --topology ${topologyFile}`,
    `  stella-gateway scanner submit --topology ${topologyFile} --scanner ${scanner?.id} --scan-id my-scan FILE…`,
    `  curl --cacert ${topology.pki.caBundle} --cert ${scanner?.tls.chain} --key ${scanner?.tls.key} \\`,
    `       --resolve ${edge?.serverName}:${edge?.listen.split(':').pop()}:127.0.0.1 https://${edge?.serverName}:${edge?.listen.split(':').pop()}/healthz/hop/${edge?.id}`,
  ].join('\n');
}
