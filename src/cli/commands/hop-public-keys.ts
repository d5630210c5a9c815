/**
 * The v2 verification keys `evidence verify` checks stored chains with
 * (docs/services.md#offline-verification): the public keys the topology lists (`--topology`,
 * never a private key file), and `--hop-key HOP=FILE` for an auditor who holds only the hops'
 * public keys (or an HMAC hop's secret). A `--hop-key` key serves whatever keyid that hop's
 * member names: the signature decides whether it is the right key.
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { HOP_ID_PATTERN } from '../../conventions/index.js';
import { parseKeyFile } from '../../dsse/index.js';
import { isV2Alg } from '../../provenance/v2/algorithms.js';
import { ANY_KID, loadV2Keyring, type V2HopKeys, type V2Keyring } from '../../provenance/v2/keys.js';
import { loadTopology } from '../../topology/load.js';
import { CliError, EXIT_USAGE } from '../output.js';

/** `--hop-key` values and `--topology`: the keyring, or undefined when neither names a v2 key. */
export async function hopPublicKeysOf(hopKeyOptions: readonly string[], topologyFile: string | undefined): Promise<V2Keyring | undefined> {
  const ring = new Map<string, V2HopKeys>();
  if (topologyFile) {
    try {
      const topology = await loadTopology(topologyFile);
      for (const hop of topology.hops) {
        // An HMAC hop's secret is often not the auditor's to read: leave that hop out (its member
        // is then reported as unverified) rather than refuse to check the public-key hops.
        const hmac = hop.stamp !== false && hop.stamp.signing?.alg === 'hmac-sha256';
        const loaded = await loadV2Keyring(topology, [hop.id]).catch((error: unknown) => {
          if (hmac) return new Map<string, V2HopKeys>();
          throw error;
        });
        for (const [id, keys] of loaded) ring.set(id, keys);
      }
    } catch (error) {
      throw new CliError(`--topology ${topologyFile}: ${(error as Error).message}`, EXIT_USAGE);
    }
  }
  for (const value of hopKeyOptions) {
    // HOP=FILE: the hop id by the topology's rule (src/conventions/identifiers.ts), then any path.
    const at = value.indexOf('=');
    const hop = value.slice(0, Math.max(at, 0));
    const file = value.slice(at + 1);
    if (at < 0 || !HOP_ID_PATTERN.test(hop) || file === '') throw new CliError(`--hop-key ${value}: say whose key it is, as --hop-key HOP=FILE (e.g. --hop-key gw-edge=keys/gw-edge.v2.pub.pem)`, EXIT_USAGE);
    let key: ReturnType<typeof parseKeyFile>;
    try {
      key = parseKeyFile(await readFile(file));
    } catch (error) {
      throw new CliError(`--hop-key ${value}: ${(error as Error).message}`, EXIT_USAGE);
    }
    // A private key would work too, but an auditor has no business holding one: refuse it.
    if (key.type === 'private') throw new CliError(`--hop-key ${value}: a private key; pass the hop's public key (SPKI PEM)`, EXIT_USAGE);
    if (!isV2Alg(key.algorithm)) throw new CliError(`--hop-key ${value}: ${key.algorithm} is not a v2 algorithm`, EXIT_USAGE);
    const object: KeyObject = key.type === 'secret' ? createSecretKey(key.secret) : key.publicKey;
    ring.set(hop!, { alg: key.algorithm, keys: new Map([[ANY_KID, object]]) });
  }
  return ring.size === 0 ? undefined : ring;
}
