/**
 * A small OCI image the tests make themselves (no internet), as an OCI image layout folder, and
 * skopeo — a registry client this product did not write — to publish it straight to the
 * registry behind the guard and to read what the scanner attached.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { issueCertificate } from '../../../src/pki/index.js';
import type { ResolvedService, ResolvedTopology } from '../../../src/topology/resolve.js';
import { requireProgram } from '../../support/programs.js';

const run = promisify(execFile);

/** What the test image is made of: every byte known to the test. */
export interface TestImage {
  /** The OCI layout folder. */
  layout: string;
  tag: string;
  manifest: Buffer;
  manifestDigest: string;
  config: Buffer;
  layer: Buffer;
}

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Builds a one-layer image (a gzip tarball made by `tar`) in an OCI layout under `dir`. */
export async function makeTestImage(dir: string, tag: string, content: string): Promise<TestImage> {
  const layout = join(dir, 'layout');
  const files = join(dir, 'rootfs');
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  mkdirSync(files, { recursive: true });
  writeFileSync(join(files, 'hello.txt'), content);
  // Fixed mtime and owner: the same content gives the same layer digest.
  await run('tar', ['--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-cf', join(dir, 'layer.tar'), '-C', files, 'hello.txt']);
  const tar = readFileSync(join(dir, 'layer.tar'));
  await run('gzip', ['-n', '-k', '-f', join(dir, 'layer.tar')]);
  const layer = readFileSync(join(dir, 'layer.tar.gz'));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha256(tar)] } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
    }),
  );
  for (const blob of [layer, config, manifest]) writeFileSync(join(layout, 'blobs', 'sha256', sha256(blob).slice(7)), blob);
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }),
  );
  return { layout, tag, manifest, manifestDigest: sha256(manifest), config, layer };
}

/**
 * A certificate folder for skopeo (`--dest-cert-dir`): the CA bundle and a fresh service-role
 * leaf, the image publisher's, which the registry accepts on its own listener.
 */
export async function publisherCertDir(topology: ResolvedTopology, dir: string): Promise<string> {
  const out = join(dir, 'publisher');
  const issued = await issueCertificate({ dir: topology.pki.dir, role: 'service', name: 'image-publisher', write: false });
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'ca.crt'), issued.caBundlePem);
  writeFileSync(join(out, 'client.cert'), issued.chainPem);
  writeFileSync(join(out, 'client.key'), issued.keyPem ?? '', { mode: 0o600 });
  return out;
}

/** `skopeo copy` of the layout's tag to `<registry>/<repository>:<tag>`, straight to the registry. */
export async function skopeoPush(image: TestImage, service: ResolvedService, repository: string, certDir: string): Promise<void> {
  const skopeo = requireProgram('skopeo');
  await run(skopeo, ['--insecure-policy', 'copy', '--dest-cert-dir', certDir, '--preserve-digests', `oci:${image.layout}:${image.tag}`, `docker://${service.registry!.listen}/${repository}:${image.tag}`]);
}

/** `skopeo inspect --raw`: the manifest bytes under a tag, read straight from the registry. */
export async function skopeoRawManifest(service: ResolvedService, repository: string, tag: string, certDir: string): Promise<string> {
  const skopeo = requireProgram('skopeo');
  const { stdout } = await run(skopeo, ['--insecure-policy', 'inspect', '--raw', '--cert-dir', certDir, `docker://${service.registry!.listen}/${repository}:${tag}`]);
  return stdout;
}
