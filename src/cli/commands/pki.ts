/**
 * `stella-gateway pki init | issue | revoke | inspect | token | serve | rollover | crl | bootstrap`
 * (docs/operations/certificates.md, README.md#command-line). Exit codes (src/cli/output.ts): 0 ok; 1 refused (unknown serial, bad
 * certificate); 2 usage or configuration (bad name, no CA, CA already there).
 */
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { formatTable, hostPortOption, printJson } from '../output.js';
import {
  CA_ROLLOVER_STEPS,
  PKI_ROLES,
  caRolloverStep,
  initPki,
  inspectCertificate,
  issueCertificate,
  parseDurationSeconds,
  refreshCrl,
  revokeCertificate,
  type CaRolloverStep,
  type PkiRole,
} from '../../pki/index.js';
import { createBootstrapToken, startEnrollmentServer } from '../../pki/enrollment/index.js';
import { bootstrapTopology } from '../../deploy/bootstrap.js';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { registerCertificateExpiry } from '../../observe/certificates.js';
import { startOpsListener, type ReadinessResult } from '../../observe/ops-listener.js';
import { addObserveOptions, opsOf, type ObserveCliOptions } from '../observe.js';
import { loadTopology } from '../../topology/load.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Registers the `pki` group. */
export function register(program: Command): void {
  const group = program.command('pki').description('Local CA, certificates, revocation and enrollment (docs/operations/certificates.md)');
  const roleOption = () => new Option('--role <role>', 'certificate role').choices(PKI_ROLES).makeOptionMandatory();

  group
    .command('init')
    .description('Create a root CA and an issuing intermediate (ECDSA P-256) in DIR')
    .requiredOption('--dir <dir>', 'PKI directory')
    .option('--trust-domain <domain>', 'SPIFFE trust domain', 'stella.local')
    .option('--json', 'machine-readable output')
    .action(async (o: { dir: string; trustDomain: string; json?: boolean }) => {
      const info = await initPki({ dir: o.dir, trustDomain: o.trustDomain });
      if (o.json) printJson(info);
      else process.stdout.write(`CA created in ${info.dir} (trust domain ${info.trustDomain})\n  bundle ${info.caBundle}\n  crl    ${info.crl}\n  root   ${info.rootFingerprint}\n`);
    });

  group
    .command('issue')
    .description('Issue a leaf: CN = NAME, URI SAN spiffe://<trust-domain>/<role>/<name>')
    .requiredOption('--dir <dir>', 'PKI directory')
    .addOption(roleOption())
    .requiredOption('--name <name>', 'scanner id, hop id or service id')
    .option('--dns <host>', 'DNS SAN (gateway/service; repeatable)', collect)
    .option('--ip <address>', 'IP SAN (gateway/service; repeatable)', collect)
    .option('--ttl <duration>', 'lifetime, e.g. 24h, 90m, 7d', '24h')
    .option('--out <dir>', 'folder for key.pem, cert.pem, chain.pem (default DIR/issued/ROLE/NAME)')
    .option('--json', 'machine-readable output')
    .action(async (o: { dir: string; role: PkiRole; name: string; dns?: string[]; ip?: string[]; ttl: string; out?: string; json?: boolean }) => {
      const leaf = await issueCertificate({
        dir: o.dir,
        role: o.role,
        name: o.name,
        dns: o.dns ?? [],
        ip: o.ip ?? [],
        ttlSeconds: parseDurationSeconds(o.ttl),
        ...(o.out ? { out: o.out } : {}),
      });
      const summary = { ...leaf.paths, serial: leaf.serial, fingerprint: leaf.fingerprint, spiffeId: leaf.spiffeId, notBefore: leaf.notBefore, notAfter: leaf.notAfter };
      if (o.json) printJson(summary);
      else process.stdout.write(`${formatTable(['field', 'value'], Object.entries(summary).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : String(v)]))}\n`);
    });

  group
    .command('revoke')
    .description('Revoke a certificate by serial and republish crl.pem')
    .requiredOption('--dir <dir>', 'PKI directory')
    .requiredOption('--serial <hex>', 'serial as printed by pki issue / pki inspect')
    .action(async (o: { dir: string; serial: string }) => {
      await revokeCertificate({ dir: o.dir, serial: o.serial });
      process.stdout.write(`revoked ${o.serial}; crl.pem republished\n`);
    });

  group
    .command('inspect')
    .description('Show identity, SANs, EKU, validity and fingerprints of a certificate')
    .argument('<file>', 'PEM certificate (the first one of a chain)')
    .option('--json', 'machine-readable output')
    .action(async (file: string, o: { json?: boolean }) => {
      const s = inspectCertificate(await readFile(file, 'utf8'));
      if (o.json) return printJson(s);
      const rows: [string, string][] = [
        ['subject', s.subject],
        ['issuer', s.issuer],
        ['serial', s.serial],
        ['notBefore', s.notBefore.toISOString()],
        ['notAfter', s.notAfter.toISOString()],
        ['uri', s.uris.join(', ')],
        ['dns', s.dns.join(', ')],
        ['ip', s.ip.join(', ')],
        ['keyUsage', s.keyUsage.join(', ')],
        ['extKeyUsage', s.extendedKeyUsage.join(', ')],
        ['sha256', s.fingerprint],
        ['sha1', s.sha1],
      ];
      process.stdout.write(`${formatTable(['field', 'value'], rows)}\n`);
    });

  group
    .command('token')
    .description('Create a one-time bootstrap token for the enrollment endpoint (printed once)')
    .requiredOption('--dir <dir>', 'PKI directory')
    .addOption(roleOption())
    .requiredOption('--name <name>', 'identity the token enrolls')
    .option('--dns <host>', 'DNS SAN of the enrolled certificate (repeatable)', collect)
    .option('--ip <address>', 'IP SAN of the enrolled certificate (repeatable)', collect)
    .option('--ttl <duration>', 'token lifetime', '1h')
    .option('--cert-ttl <duration>', 'lifetime of the enrolled certificate (default 24h)')
    .option('--json', 'machine-readable output')
    .action(async (o: { dir: string; role: PkiRole; name: string; dns?: string[]; ip?: string[]; ttl: string; certTtl?: string; json?: boolean }) => {
      const t = await createBootstrapToken({
        dir: o.dir,
        role: o.role,
        name: o.name,
        dns: o.dns ?? [],
        ip: o.ip ?? [],
        ttlSeconds: parseDurationSeconds(o.ttl),
        ...(o.certTtl ? { certTtlSeconds: parseDurationSeconds(o.certTtl) } : {}),
      });
      if (o.json) printJson({ token: t.token, id: t.id, expiresAt: t.expiresAt });
      else process.stdout.write(`${t.token}\n`);
    });

  const serve = group
    .command('serve')
    .description('Run the enrollment endpoint over TLS until SIGINT/SIGTERM')
    .requiredOption('--dir <dir>', 'PKI directory')
    .requiredOption('--listen <host:port>', 'address to listen on, e.g. 127.0.0.1:8600');
  addObserveOptions(serve).action(async (o: ObserveCliOptions & { dir: string; listen: string }) => {
    // Port 0 takes a free port; the server prints the address it got.
    const { host, port } = hostPortOption('--listen', o.listen, { anyPort: true });
    const ops = opsOf(o);
    const server = await startEnrollmentServer({ dir: o.dir, host, port, logger: { level: o.logLevel ?? 'info' } });
    let listener = null;
    if (ops) {
      // Process metrics and the endpoint's own certificate; ready while that certificate is.
      const registry = new Registry();
      collectDefaultMetrics({ register: registry });
      registerCertificateExpiry(registry, 'pki-serve', () => server.provider.current());
      const ready = async (): Promise<ReadinessResult> => {
        const cert = server.provider.ready();
        return { ready: cert.ready, checks: { certificate: { ok: cert.ready, detail: cert.ready ? 'valid' : (cert.reason ?? 'not ready') } } };
      };
      listener = await startOpsListener({ ...ops, part: 'pki-serve', registry, readiness: ready }).catch(async (error: unknown) => {
        await server.close();
        throw error;
      });
    }
    process.stdout.write(`enrollment endpoint on ${server.url}${listener ? ` (ops: ${listener.url})` : ''}\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await listener?.close();
    await server.close();
  });

  group
    .command('rollover')
    .description('One CA rollover step: add (new CA in bundle), activate (issue from it), retire (drop old)')
    .requiredOption('--dir <dir>', 'PKI directory')
    .addOption(new Option('--step <step>', 'rollover step').choices(CA_ROLLOVER_STEPS).makeOptionMandatory())
    .option('--json', 'machine-readable output')
    .action(async (o: { dir: string; step: CaRolloverStep; json?: boolean }) => {
      const result = await caRolloverStep({ dir: o.dir, step: o.step });
      if (o.json) printJson(result);
      else process.stdout.write(`rollover ${result.step}: active generation ${result.activeGeneration}, trusted ${result.trustedGenerations.join(', ')}\n`);
    });

  group
    .command('bootstrap')
    .description('Create every missing CA, leaf and key a topology names (idempotent; --force re-issues leaves and keys, never the CA)')
    .requiredOption('--topology <file>', 'topology file (YAML or JSON)')
    .option('--force', 'also replace leaves and keys that exist')
    .option('--ttl <duration>', 'lifetime of the issued leaves, e.g. 24h, 30d', '24h')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  stella-gateway pki bootstrap --topology /etc/stella/topology.yaml\n  stella-gateway topology validate /etc/stella/topology.yaml')
    .action(async (o: { topology: string; force?: boolean; ttl: string; json?: boolean }) => {
      const ttlSeconds = parseDurationSeconds(o.ttl);
      const steps = await bootstrapTopology(await loadTopology(o.topology), { force: o.force === true, leafTtlSeconds: ttlSeconds });
      // docs/operations/running.md#bootstrap: afterwards every file the topology names is there.
      await loadTopology(o.topology, { checkFiles: true });
      if (o.json) return printJson({ steps });
      process.stdout.write(`${formatTable(['kind', 'for', 'path', 'action'], steps.map((st) => [st.kind, st.subject, st.path, st.action]))}\n`);
      const made = steps.filter((st) => st.action !== 'kept').length;
      process.stdout.write(`${made} created or replaced, ${steps.length - made} kept; next: stella-gateway topology validate ${o.topology}\n`);
    });

  group
    .command('crl')
    .description('Republish crl.pem with a fresh nextUpdate (run daily)')
    .requiredOption('--dir <dir>', 'PKI directory')
    .action((o: { dir: string }) => refreshCrl({ dir: o.dir }));
}
