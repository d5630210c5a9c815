/**
 * Where the files of an Apache+ModSecurity hop live. Apache resolves every path of its config at
 * start-up, so the renderer writes absolute paths built from the render folder (`RenderContext.outDir`);
 * nothing of the hop points at `/etc/apache2` or `/var/log`, so several hops can run side by side.
 */
import { posix } from 'node:path';

/** The Debian 12 files the WAF hop builds on (packages apache2, libapache2-mod-security2, modsecurity-crs). */
export const APACHE_SYSTEM_PATHS = {
  modulesDir: '/usr/lib/apache2/modules',
  /** `SecUnicodeMapFile` must be absolute: Debian's relative `unicode.mapping` fails outside `/etc/modsecurity` (notes/gateways.md). */
  unicodeMapping: '/etc/modsecurity/unicode.mapping',
  crsSetup: '/etc/modsecurity/crs/crs-setup.conf',
  crsExclusionsBefore: '/etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf',
  crsRules: '/usr/share/modsecurity-crs/rules/*.conf',
  crsExclusionsAfter: '/etc/modsecurity/crs/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf',
} as const;

/** The unprivileged account Apache's children run as when started by root (Debian's default). */
export const APACHE_RUN_USER = 'www-data';

/** Absolute paths of one WAF hop's files; `relative` holds the same files relative to the render folder. */
export interface ApacheHopLayout {
  readonly dir: string;
  readonly conf: string;
  readonly modsecurityConf: string;
  readonly crsTuningConf: string;
  readonly logsDir: string;
  readonly runDir: string;
  readonly tmpDir: string;
  readonly dataDir: string;
  readonly pidFile: string;
  /**
   * The upstream client certificate followed by its key. `SSLProxyMachineCertificateFile` wants
   * both in one file, and key material is never rendered (docs/CONVENTIONS.md): `prepareApacheHop`
   * assembles it at start-up, mode 0600, from `hop.upstreamTls`.
   */
  readonly proxyClientPem: string;
  readonly relative: { readonly conf: string; readonly modsecurityConf: string; readonly crsTuningConf: string };
}

/** The file names of a WAF hop inside `<outDir>/<hop id>/`. */
export function apacheHopLayout(outDir: string, hopId: string): ApacheHopLayout {
  const dir = posix.join(outDir, hopId);
  const runDir = posix.join(dir, 'run');
  return {
    dir,
    conf: posix.join(dir, 'apache2.conf'),
    modsecurityConf: posix.join(dir, 'modsecurity.conf'),
    crsTuningConf: posix.join(dir, 'crs-tuning.conf'),
    logsDir: posix.join(dir, 'logs'),
    runDir,
    tmpDir: posix.join(dir, 'tmp'),
    dataDir: posix.join(dir, 'data'),
    pidFile: posix.join(runDir, 'apache2.pid'),
    proxyClientPem: posix.join(runDir, 'proxy-client.pem'),
    relative: {
      conf: `${hopId}/apache2.conf`,
      modsecurityConf: `${hopId}/modsecurity.conf`,
      crsTuningConf: `${hopId}/crs-tuning.conf`,
    },
  };
}
