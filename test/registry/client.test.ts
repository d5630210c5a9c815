/**
 * The scanner's registry client verifies what a registry sends (docs/scanner.md#registry): a
 * registry that answers other bytes than the digest asked for — or than it announced — is caught
 * before the bytes are used. The registry here is a small lying HTTP server: the real one never
 * lies, which is the point of the test.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { RegistryClient } from '../../src/registry/client.js';
import { RegistryError } from '../../src/registry/errors.js';
import { cosignAttestationTag, digestOf, parseImageManifest } from '../../src/registry/oci.js';
import { ScannerError } from '../../src/scanner/errors.js';

const sha = (bytes: Buffer | string): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const MANIFEST = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha('{}'), size: 2 }, layers: [] }));

describe('RegistryClient', () => {
  let server: Server;
  let agent: Agent;
  let client: RegistryClient;
  const seen: IncomingMessage[] = [];
  /** What the server answers per path. */
  const answers = new Map<string, { status?: number; body: Buffer; headers?: Record<string, string> }>();

  before(async () => {
    server = createServer((req, res) => {
      seen.push(req);
      const answer = answers.get(req.url ?? '');
      res.statusCode = answer?.status ?? (answer ? 200 : 404);
      for (const [k, v] of Object.entries(answer?.headers ?? {})) res.setHeader(k, v);
      res.end(answer?.body ?? '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    agent = new Agent();
    client = new RegistryClient({ dispatcher: agent, endpoint: { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, servername: 'gw-edge' }, scanId: 'scan-7' });
  });
  after(async () => {
    await agent.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it('pulls a manifest by digest when its bytes hash to it, sending the scan id', async () => {
    answers.set(`/v2/team/app/manifests/${sha(MANIFEST)}`, { body: MANIFEST, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
    const pulled = await client.pullImageManifest('team/app', sha(MANIFEST));
    assert.equal(pulled.digest, sha(MANIFEST));
    assert.equal(pulled.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(seen.at(-1)?.headers['x-stella-scan-id'], 'scan-7');
  });

  it('refuses a manifest whose bytes do not hash to the digest asked for: REGISTRY_DIGEST_MISMATCH', async () => {
    const asked = sha('another manifest');
    answers.set(`/v2/team/app/manifests/${asked}`, { body: MANIFEST });
    await assert.rejects(client.pullManifest('team/app', asked), (e: unknown) => e instanceof RegistryError && e.code === 'REGISTRY_DIGEST_MISMATCH');
  });

  it('refuses a manifest by tag whose bytes are not the digest the registry announced', async () => {
    answers.set('/v2/team/app/manifests/v1', { body: MANIFEST, headers: { 'docker-content-digest': sha('announced') } });
    await assert.rejects(client.pullManifest('team/app', 'v1'), (e: unknown) => e instanceof RegistryError && e.code === 'REGISTRY_DIGEST_MISMATCH');
  });

  it('refuses a blob that does not hash to its digest, and one longer than its descriptor', async () => {
    const blob = Buffer.from('layer bytes');
    answers.set(`/v2/team/app/blobs/${sha(blob)}`, { body: Buffer.from('other bytes') });
    await assert.rejects(client.fetchBlob('team/app', sha(blob)), (e: unknown) => e instanceof RegistryError && e.code === 'REGISTRY_DIGEST_MISMATCH');
    await assert.rejects(client.fetchBlob('team/app', sha(blob), 4), (e: unknown) => e instanceof RegistryError && e.code === 'REGISTRY_TOO_LARGE');
  });

  it('sends Content-Digest with every body and hands a refusal back as SCANNER_REJECTED with its problem code', async () => {
    const manifest = Buffer.from('{}');
    answers.set('/v2/team/app/manifests/v2', { status: 422, body: Buffer.from('{"code":"binding-mismatch"}'), headers: { 'content-type': 'application/problem+json' } });
    await assert.rejects(client.pushManifest('team/app', 'v2', 'application/vnd.oci.image.manifest.v1+json', manifest), (e: unknown) => e instanceof ScannerError && e.code === 'SCANNER_REJECTED' && e.problemCode === 'binding-mismatch');
    assert.equal(seen.at(-1)?.headers['content-digest'], `sha-256=:${createHash('sha256').update(manifest).digest('base64')}:`);
  });

  it('takes no repository name or reference outside the OCI grammar into a path', async () => {
    const before = seen.length;
    await assert.rejects(client.pullManifest('../admin', 'v1'), TypeError);
    await assert.rejects(client.pullManifest('team/app', 'v1/../../x'), TypeError);
    assert.equal(seen.length, before, 'a request was sent');
  });
});

describe('OCI names', () => {
  it('names an image digest\'s attestations with the cosign tag', () => {
    assert.equal(cosignAttestationTag(`sha256:${'ab'.repeat(32)}`), `sha256-${'ab'.repeat(32)}.att`);
    assert.throws(() => cosignAttestationTag('sha512:00'), TypeError);
  });

  it('reads only image manifests of the expected shape', () => {
    assert.equal(typeof parseImageManifest(MANIFEST), 'object');
    assert.equal(parseImageManifest(Buffer.from('[]')), 'schemaVersion is not 2');
    assert.equal(parseImageManifest(Buffer.from('{"schemaVersion":2,"config":{},"layers":[]}')), 'config is not a descriptor');
    assert.equal(digestOf(Buffer.from('')), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});
