/**
 * The secret key files of a topology as systemd credentials (docs/operations/running.md#keys-as-credentials):
 * each has a fixed credential name, each part lists the ones it loads, and a part started with a
 * credentials folder (`$CREDENTIALS_DIRECTORY`, filled by `LoadCredential=`) reads a key from there
 * instead of from its path in the topology.
 *
 * Pure: the caller says which credential files exist. TLS leaves are not credentials: they are
 * renewed in place and reloaded from their files while the part runs
 * (docs/operations/certificates.md), which a credential copied once at start would not see.
 */
import { join } from 'node:path';
import type { ResolvedTopology } from './resolve.js';

/** Which key a credential holds. */
export type CredentialKind = 'hop-mac' | 'scanner-signing' | 'receipt';

/** One secret file of a topology under its credential name. */
export interface TopologyCredential {
  /** The credential name: `mac.<hop>.<kid>`, `signing.<scanner>.<kid>`, `receipt.<service>`. */
  readonly name: string;
  readonly kind: CredentialKind;
  /** The hop, scanner or service the key belongs to. */
  readonly owner: string;
  /** The file `LoadCredential=` reads it from: the topology's (resolved) path. */
  readonly file: string;
}

/** The part of a deployment a process runs: what `serve`/`guard`, `stamper`, `gateway run`, `scanner run` take. */
export type DeploymentPart =
  | { readonly kind: 'service'; readonly id: string }
  | { readonly kind: 'stamper'; readonly id: string }
  | { readonly kind: 'gateway'; readonly id: string }
  | { readonly kind: 'scanner'; readonly id: string };

/**
 * A credential name: systemd takes any file name without `/` up to the first `:` of
 * `LoadCredential=ID:PATH`, so the `:` a kid may hold becomes `_`.
 */
export function credentialName(kind: CredentialKind, owner: string, kid?: string): string {
  const safe = (s: string): string => s.replace(/:/g, '_');
  switch (kind) {
    case 'hop-mac':
      return `mac.${safe(owner)}.${safe(kid ?? '')}`;
    case 'scanner-signing':
      return `signing.${safe(owner)}.${safe(kid ?? '')}`;
    case 'receipt':
      return `receipt.${safe(owner)}`;
  }
}

/** Every secret key file of a topology with its credential name, in topology order. */
export function topologyCredentials(topology: ResolvedTopology): TopologyCredential[] {
  const list: TopologyCredential[] = [];
  for (const hop of topology.hops) {
    if (hop.stamp === false) continue;
    for (const key of hop.stamp.keys) list.push({ name: credentialName('hop-mac', hop.id, key.kid), kind: 'hop-mac', owner: hop.id, file: key.file });
  }
  for (const scanner of topology.scanners) {
    for (const key of scanner.signing.keys) list.push({ name: credentialName('scanner-signing', scanner.id, key.kid), kind: 'scanner-signing', owner: scanner.id, file: key.file });
  }
  for (const service of topology.services) {
    if (service.receiptKey) list.push({ name: credentialName('receipt', service.id), kind: 'receipt', owner: service.id, file: service.receiptKey });
  }
  return list;
}

/**
 * The credentials one part loads, and no other: a service (or its guard) the MAC keys of the hops
 * in front of it, the scanners' keys it verifies with (those without a `publicFile`) and its receipt
 * key; a stamper and a natively stamping gateway their hop's MAC keys; a scanner its signing keys.
 *
 * @throws {TypeError} for a part the topology does not have.
 */
export function credentialsOfPart(topology: ResolvedTopology, part: DeploymentPart): TopologyCredential[] {
  const all = topologyCredentials(topology);
  const hopKeys = (hopIds: readonly string[]): TopologyCredential[] => all.filter((c) => c.kind === 'hop-mac' && hopIds.includes(c.owner));
  switch (part.kind) {
    case 'service': {
      const service = topology.services.find((s) => s.id === part.id);
      if (!service) throw new TypeError(`credentialsOfPart: no service ${part.id}`);
      const privateOnly = new Set(topology.scanners.flatMap((s) => s.signing.keys.filter((k) => !k.publicFile).map((k) => credentialName('scanner-signing', s.id, k.kid))));
      return [...hopKeys(service.chain.map((h) => h.id)), ...all.filter((c) => privateOnly.has(c.name)), ...all.filter((c) => c.kind === 'receipt' && c.owner === service.id)];
    }
    case 'stamper':
    case 'gateway': {
      const hop = topology.hops.find((h) => h.id === part.id);
      if (!hop) throw new TypeError(`credentialsOfPart: no hop ${part.id}`);
      // A forward-auth gateway never holds the key: its stamper does.
      if (hop.stamp === false || (part.kind === 'gateway' && hop.stamp.via !== 'native')) return [];
      return hopKeys([hop.id]);
    }
    case 'scanner': {
      if (!topology.scanners.some((s) => s.id === part.id)) throw new TypeError(`credentialsOfPart: no scanner ${part.id}`);
      return all.filter((c) => c.kind === 'scanner-signing' && c.owner === part.id);
    }
  }
}

/**
 * Points every key of `topology` whose credential exists in `directory` at that credential file,
 * in place, and returns the map of original path → credential path. A key without a credential
 * keeps its path, so a part started by hand reads the topology's files as before.
 */
export function useCredentialsDirectory(topology: ResolvedTopology, directory: string, exists: (file: string) => boolean): Map<string, string> {
  const moved = new Map<string, string>();
  const at = (name: string, file: string): string => {
    const credential = join(directory, name);
    if (!exists(credential)) return file;
    moved.set(file, credential);
    return credential;
  };
  for (const hop of topology.hops) {
    if (hop.stamp === false) continue;
    for (const key of hop.stamp.keys) key.file = at(credentialName('hop-mac', hop.id, key.kid), key.file);
  }
  for (const scanner of topology.scanners) {
    for (const key of scanner.signing.keys) key.file = at(credentialName('scanner-signing', scanner.id, key.kid), key.file);
  }
  for (const service of topology.services) {
    if (service.receiptKey) service.receiptKey = at(credentialName('receipt', service.id), service.receiptKey);
  }
  return moved;
}

/**
 * Where the file check reports each secret key the credentials folder does not hold
 * (`hops[0].stamp.keys[0]`, `scanners[1].signing.keys[0]`, `services[0].receiptKey`): under systemd
 * those are other parts' keys, which this part neither loads nor may read. `held` is the set of
 * original paths {@link useCredentialsDirectory} moved.
 */
export function keysNotHeld(topology: ResolvedTopology, held: ReadonlyMap<string, string>): string[] {
  const isHeld = (file: string): boolean => [...held.values()].includes(file);
  const paths: string[] = [];
  topology.hops.forEach((hop, i) => {
    if (hop.stamp !== false) hop.stamp.keys.forEach((k, j) => isHeld(k.file) || paths.push(`hops[${i}].stamp.keys[${j}]`));
  });
  topology.scanners.forEach((scanner, i) => scanner.signing.keys.forEach((k, j) => isHeld(k.file) || paths.push(`scanners[${i}].signing.keys[${j}]`)));
  topology.services.forEach((service, i) => {
    if (service.receiptKey && !isHeld(service.receiptKey)) paths.push(`services[${i}].receiptKey`);
  });
  return paths;
}
