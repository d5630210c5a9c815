/**
 * The one I/O step of a WAF hop before `apache2 -t` or a start: the runtime folders and the
 * upstream client certificate file. Not part of the renderer, which stays pure and never sees key
 * material (docs/CONVENTIONS.md).
 */
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import type { ResolvedHop } from '../../topology/resolve.js';
import { APACHE_RUN_USER, apacheHopLayout } from './layout.js';

/**
 * Creates `logs/`, `run/`, `tmp/`, `data/` in the hop folder and writes `run/proxy-client.pem`
 * (the upstream leaf certificate followed by its key, mode 0600, written atomically):
 * `SSLProxyMachineCertificateFile` takes certificate and key from one file and reads every
 * certificate in it as a further client certificate, so the intermediates come from
 * `SSLProxyMachineCertificateChainFile` instead. When run as root,
 * `tmp/` and `data/` are handed to the account the children run as, since ModSecurity writes there.
 * Call it again after the upstream certificate rotates, then reload Apache.
 *
 * @param outDir the render folder (`RenderContext.outDir`) the hop was rendered for.
 */
export async function prepareApacheHop(hop: ResolvedHop, outDir: string): Promise<void> {
  const layout = apacheHopLayout(outDir, hop.id);
  for (const dir of [layout.logsDir, layout.runDir, layout.tmpDir, layout.dataDir]) await mkdir(dir, { recursive: true });
  if (process.getuid?.() === 0) {
    const ids = runUserIds();
    if (ids) for (const dir of [layout.tmpDir, layout.dataDir]) await chown(dir, ids.uid, ids.gid);
  }
  const [cert, key] = await Promise.all([readFile(hop.upstreamTls.cert, 'utf8'), readFile(hop.upstreamTls.key, 'utf8')]);
  const staging = `${layout.proxyClientPem}.${process.pid}.tmp`;
  await writeFile(staging, `${firstCertificate(cert)}\n${key.trimEnd()}\n`, { mode: 0o600 });
  await chmod(staging, 0o600);
  await rename(staging, layout.proxyClientPem);
}

function runUserIds(): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', APACHE_RUN_USER], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', APACHE_RUN_USER], { encoding: 'utf8' }).trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

/** The first PEM certificate of a file (the leaf, when `cert` was given as leaf + intermediates). */
function firstCertificate(pem: string): string {
  const match = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(pem);
  if (!match) throw new TypeError('prepareApacheHop: the upstream certificate file holds no PEM certificate');
  return match[0];
}
