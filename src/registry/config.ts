/**
 * The configuration of the OCI registry behind an `oci-registry` service's guard
 * (docs/topology.md#oci-registry): Debian's `docker-registry` (CNCF distribution 2.8), filesystem
 * storage in the service's `registry.rootDirectory`, listening on its loopback `registry.listen`
 * with TLS and required client certificates from the topology's CA (`http.tls.clientcas`).
 *
 * Pure: returns the file to write; `src/deploy/start.ts` writes it and starts the program.
 */
import { stringify } from 'yaml';
import type { RenderedFile } from '../gateways/types.js';
import type { ResolvedService, ResolvedTopology } from '../topology/resolve.js';

/** The registry program and how it is run: `docker-registry serve <config>`. */
export const REGISTRY_PROGRAM = 'docker-registry';
/** Name of the rendered config file inside the service's render folder. */
export const REGISTRY_CONFIG_FILE = 'config.yml';

/**
 * Renders `<service id>/config.yml`.
 *
 * @example
 * const [file] = renderRegistryConfig(topology, service); // { path: 'registry/config.yml', contents: 'version: 0.1\n…' }
 */
export function renderRegistryConfig(topology: ResolvedTopology, service: ResolvedService): RenderedFile[] {
  if (!service.registry) throw new TypeError(`renderRegistryConfig: services.${service.id} has no registry`);
  const config = {
    version: 0.1,
    log: { level: 'info', formatter: 'text', accesslog: { disabled: false } },
    storage: {
      filesystem: { rootdirectory: service.registry.rootDirectory },
      // Nothing is deleted through the API: attestations are evidence.
      delete: { enabled: false },
      // The guard is the only client; a scheduled purge of half-done uploads is not needed.
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: {
      addr: service.registry.listen,
      // Location headers as paths: the client reaches the registry only through the edge.
      relativeurls: true,
      tls: {
        certificate: service.tls.chain,
        key: service.tls.key,
        // distribution requires and verifies a client certificate once clientcas is set. It cannot
        // check a role or a CRL: only the guard can reach this loopback address (docs/services.md#the-guard).
        clientcas: [topology.pki.caBundle],
        minimumtls: 'tls1.2',
      },
      headers: { 'X-Content-Type-Options': ['nosniff'] },
    },
  };
  return [{ path: `${service.id}/${REGISTRY_CONFIG_FILE}`, contents: stringify(config), mode: 0o600 }];
}
