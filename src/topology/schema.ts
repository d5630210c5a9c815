/**
 * The topology of a deployment (docs/topology.md): written once here as zod schemas, from which the
 * TypeScript types and the published JSON Schema (`schema/topology.schema.json`) are derived.
 *
 * This module only describes *shapes*. Rules that span several fields (dangling `next`, cycles,
 * key files that must exist…) live in `validate.ts`, which reports every problem with its path.
 */
import { z } from 'zod';
import type { Algorithm } from '../dsse/algorithms.js';
import { HOP_ID_PATTERN, HOP_ID_SOURCE, KID_PATTERN, LISTEN_ADDRESS_PATTERN, PEER_ID_PATTERN, TOPOLOGY_NAME_PATTERN, TOPOLOGY_NAME_SOURCE } from '../conventions/index.js';

/** Hop and service ids, scanner ids (`peer-id`s), kids and listen addresses: the conventions floor's formats. */
export { HOP_ID_PATTERN, KID_PATTERN, LISTEN_ADDRESS_PATTERN, PEER_ID_PATTERN };
/**
 * A scanner id is a `peer-id` that is also a folder of the PKI layout and the last segment of a
 * SPIFFE ID, so `.` and `..` are refused here as `pki issue` refuses them (docs/topology.md#the-rules).
 */
export const SCANNER_ID_PATTERN = new RegExp(`^(?!\\.{1,2}$)${PEER_ID_PATTERN.source.slice(1)}`);
/** A DNS name or IP address: `serverName` is written into every gateway config, unquoted by some. */
export const SERVER_NAME_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;
const serverName = z.string().regex(SERVER_NAME_PATTERN, 'serverName must be a DNS name or IPv4 address');

export const DEFAULT_MAX_HOPS = 8;
export const DEFAULT_CLOCK_SKEW_SECONDS = 30;
export const DEFAULT_MAX_AGE_SECONDS = 120;
export const DEFAULT_MAX_PROVENANCE_HEADER_BYTES = 8192;
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
/**
 * The body limit of the artifact upload route only (docs/services.md#size): an artifact's exact
 * bytes, streamed into the store, so it can be far larger than an envelope.
 */
export const DEFAULT_MAX_ARTIFACT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_UPSTREAM_TIMEOUT_SECONDS = 60;
/** CRS defaults when a WAF hop has no `waf:` block (docs/topology.md#fields). */
export const DEFAULT_PARANOIA_LEVEL = 1;
/** CRS's inbound anomaly threshold when a WAF hop has no `waf:` block. */
export const DEFAULT_INBOUND_ANOMALY_THRESHOLD = 5;
/**
 * How long a published CRL or CA bundle may take to reach every running part (services, stampers,
 * supervised gateways): each re-reads the PKI files this often (docs/operations/certificates.md#revocation).
 */
export const DEFAULT_PKI_RELOAD_SECONDS = 30;

/**
 * What each gateway kind can do, one line per kind (docs/CONVENTIONS.md#gateway-behaviour-every-renderer-implements):
 * how it can stamp (`stamp.via`; none for the opaque WAF), the v2 algorithms it signs natively
 * (docs/provenance.md#part-2-version-2: HAProxy through Lua and luaossl, which has no one-shot
 * Ed25519 signing, ../shared/notes/asymmetric-hops.md) and the seconds it may spend on a request
 * before forwarding it (`HOP_PROCESSING_SECONDS`, src/topology/timeouts.ts: the WAF buffers and
 * inspects the whole body first; the others stream). How it is rendered and run is its line of
 * `GATEWAY_KINDS` (src/gateways/kinds.ts).
 */
export const HOP_KIND_TRAITS = {
  nginx: { stampVia: ['native', 'forward-auth'], nativeV2Algs: [], processingSeconds: 2 },
  haproxy: { stampVia: ['native'], nativeV2Algs: ['ecdsa-p256-sha256', 'hmac-sha256'], processingSeconds: 2 },
  'apache-modsecurity': { stampVia: [], nativeV2Algs: [], processingSeconds: 15 },
  caddy: { stampVia: ['forward-auth'], nativeV2Algs: [], processingSeconds: 2 },
  envoy: { stampVia: ['forward-auth'], nativeV2Algs: [], processingSeconds: 2 },
} as const satisfies Readonly<Record<string, { readonly stampVia: readonly ('native' | 'forward-auth')[]; readonly nativeV2Algs: readonly V2StampAlg[]; readonly processingSeconds: number }>>;

/** A gateway program a hop can be rendered for. */
export type HopKind = keyof typeof HOP_KIND_TRAITS;
/** The gateway programs a hop can be rendered for, in the order of {@link HOP_KIND_TRAITS}. */
export const HOP_KINDS = Object.keys(HOP_KIND_TRAITS) as [HopKind, ...HopKind[]];

/**
 * The algorithms a hop can sign a v2 member with (docs/provenance.md#part-2-version-2): a subset of
 * the one algorithm table, `src/dsse/algorithms.ts`.
 */
export const V2_STAMP_ALGS = ['ed25519', 'ecdsa-p256-sha256', 'hmac-sha256'] as const satisfies readonly Algorithm[];

const kindsThatStamp = (via: 'native' | 'forward-auth'): ReadonlySet<HopKind> => new Set(HOP_KINDS.filter((kind) => (HOP_KIND_TRAITS[kind].stampVia as readonly string[]).includes(via)));
/** Which hop kinds can compute the hop-record HMAC themselves (`stamp.via: native`). */
export const NATIVE_STAMP_KINDS: ReadonlySet<HopKind> = kindsThatStamp('native');
/** The v2 algorithms each kind can sign natively (its `nativeV2Algs` in {@link HOP_KIND_TRAITS}). */
export const NATIVE_V2_ALGS = Object.fromEntries(HOP_KINDS.map((kind) => [kind, HOP_KIND_TRAITS[kind].nativeV2Algs])) as { readonly [K in HopKind]: (typeof HOP_KIND_TRAITS)[K]['nativeV2Algs'] };
/** Which hop kinds can call the forward-auth stamper (`stamp.via: forward-auth`). */
export const FORWARD_AUTH_KINDS: ReadonlySet<HopKind> = kindsThatStamp('forward-auth');

export const SERVICE_KINDS = ['evidence-locker', 'scanner-webservice', 'oci-registry'] as const;
export type ServiceKind = (typeof SERVICE_KINDS)[number];
/**
 * Third-party services that cannot verify provenance themselves: a guard listens at the service's
 * `listen` and runs the checks in front of them (docs/services.md#the-guard).
 */
export const GUARDED_SERVICE_KINDS: ReadonlySet<ServiceKind> = new Set(['oci-registry']);

const listenAddress = z.string().regex(LISTEN_ADDRESS_PATTERN, 'must be host:port with a port 1-65535, e.g. 127.0.0.1:8443');

const filePath = z.string().min(1, 'must not be empty');

/** A certificate and its private key (PEM files). The chain file, when given, is sent to peers. */
const certificateFiles = z
  .object({
    cert: filePath.describe('PEM certificate (leaf, or leaf followed by intermediates)'),
    key: filePath.describe('PEM private key (PKCS#8)'),
    chain: filePath.optional().describe('PEM leaf + intermediates; defaults to cert'),
  })
  .strict();

/** One HMAC-SHA256 key of a hop or scanner: a base64-text secret of at least 32 bytes. */
const macKey = z
  .object({
    kid: z.string().regex(KID_PATTERN, 'kid must match [A-Za-z0-9._:-]{1,64}'),
    file: filePath.describe('base64 text of an HMAC-SHA256 secret, at least 32 bytes decoded'),
  })
  .strict();

/** A POSIX account name or numeric id, as `id -u` takes it. */
export const ACCOUNT_PATTERN = /^(?:[0-9]{1,10}|[a-z_][a-z0-9_-]{0,31})$/;

/**
 * Where the forward-auth stamper of a hop is reached (docs/provenance.md#the-forward-auth-stamper):
 * a Unix domain socket only its gateway's account can open (the default form), or TCP where the
 * gateway must present its own certificate (role gateway, CN = the hop id).
 */
const stamperConfig = z.union([
  z
    .object({
      socket: filePath.describe('Unix domain socket path; its folder is made 0700 and the socket 0600 by the stamper'),
      gatewayUser: z
        .string()
        .regex(ACCOUNT_PATTERN, 'gatewayUser must be an account name or a numeric uid')
        .optional()
        .describe('the account the gateway connects as (NGINX started as root runs its workers as nobody); default the stamper\'s own'),
    })
    .strict(),
  z.object({ listen: listenAddress.describe('host:port on loopback; the stamper speaks mTLS and admits only the hop\'s own gateway certificate') }).strict(),
]);

/** The provenance versions a hop stamps (docs/provenance.md#part-2-version-2); `both` during a migration. */
export const STAMP_PROFILES = ['v1', 'v2', 'both'] as const;
/** One of {@link STAMP_PROFILES}. */
export type StampProfile = (typeof STAMP_PROFILES)[number];

/** A v2 signing key of a hop: a PKCS#8 PEM private key (or a base64 secret for hmac-sha256). */
const v2SigningKey = z
  .object({
    kid: z.string().regex(KID_PATTERN, 'kid must match [A-Za-z0-9._:-]{1,64}'),
    file: filePath.describe('PKCS#8 PEM private key (0600), or the base64 text of a 32-byte secret for hmac-sha256'),
    publicFile: filePath.optional().describe('PEM public key (SPKI) the verifiers hold'),
  })
  .strict();

const v2Signing = z
  .object({
    alg: z.enum(V2_STAMP_ALGS),
    /** The last one listed stamps; the others stay valid for verifiers. */
    keys: z.array(v2SigningKey).min(1, 'v2 signing needs at least one key'),
  })
  .strict();

const stampConfig = z
  .object({
    via: z.enum(['native', 'forward-auth']),
    /** v1, v2 or both (docs/provenance.md#part-2-version-2). */
    profile: z.enum(STAMP_PROFILES).default('v1'),
    /** All v1 keys currently valid for this hop; the last one listed is used for stamping. Required for v1 and both. */
    keys: z.array(macKey).default([]),
    /** The v2 signing algorithm and keys (required for v2 and both). */
    signing: v2Signing.optional(),
    /** Where the forward-auth stamper of this hop is reached (Unix socket, or mTLS over TCP). */
    stamper: stamperConfig.optional(),
  })
  .strict();

const wafConfig = z
  .object({
    paranoiaLevel: z.number().int().min(1).max(4).default(DEFAULT_PARANOIA_LEVEL),
    inboundAnomalyThreshold: z.number().int().min(1).max(1000).default(DEFAULT_INBOUND_ANOMALY_THRESHOLD),
  })
  .strict();

const hopLimits = z
  .object({
    maxBodyBytes: z.number().int().positive().default(DEFAULT_MAX_BODY_BYTES),
    /** The limit on the artifact upload route (`POST /api/v1/artifacts/{sha256}`); every other path keeps maxBodyBytes. */
    maxArtifactBytes: z.number().int().positive().default(DEFAULT_MAX_ARTIFACT_BYTES),
    upstreamTimeoutSeconds: z.number().int().positive().max(3600).default(DEFAULT_UPSTREAM_TIMEOUT_SECONDS),
  })
  .strict();

export const hopSchema = z
  .object({
    id: z.string().regex(HOP_ID_PATTERN, `hop id must match ${HOP_ID_SOURCE}`),
    kind: z.enum(HOP_KINDS),
    listen: listenAddress,
    /** The DNS name peers use for SNI and certificate verification; defaults to the hop id. */
    serverName: serverName.optional(),
    /** Server certificate; defaults to the PKI layout `<pki.dir>/issued/gateway/<id>/`. */
    tls: certificateFiles.optional(),
    /** Client certificate presented to the next hop; defaults to the server certificate. */
    upstreamTls: certificateFiles.optional(),
    /** `false` for an opaque hop (it forwards but adds no record, docs/provenance.md#rules-for-every-hop, rule 2). */
    stamp: z.union([z.literal(false), stampConfig]),
    waf: wafConfig.optional(),
    limits: hopLimits.optional(),
    next: z.string().min(1),
  })
  .strict();

export const scannerSchema = z
  .object({
    id: z.string().regex(SCANNER_ID_PATTERN, 'scanner id must match [A-Za-z0-9._-]{1,64} and not be "." or ".."'),
    /** The edge hop this scanner sends to; defaults to the only edge of the topology. */
    edge: z.string().optional(),
    /** mTLS client certificate; defaults to `<pki.dir>/issued/scanner/<id>/`. */
    tls: certificateFiles.optional(),
    /** DSSE signing keys: HMAC keys shared with the services, and optional asymmetric keys. */
    signing: z
      .object({
        keys: z
          .array(
            z
              .object({
                kid: z.string().regex(KID_PATTERN),
                file: filePath.describe('HMAC base64 secret, or a PEM private key (PKCS#8)'),
                publicFile: filePath.optional().describe('PEM public key (SPKI) the services verify with'),
              })
              .strict(),
          )
          .min(1),
      })
      .strict(),
  })
  .strict();

/** An exact SPIFFE ID, or `spiffe://<td>/<role>/*` for every identity of a role (docs/topology.md#access). */
const identityPattern = z
  .string()
  .regex(/^spiffe:\/\/[a-z0-9.-]{1,253}\/(scanner|gateway|service)\/((?!\.{1,2}$)[A-Za-z0-9._-]{1,64}|\*)$/, 'must be spiffe://<trust domain>/<scanner|gateway|service>/<name or *>');

/** Who may do what at a service besides the owner of a scan (docs/services.md#who-may-write-and-read). */
const serviceAccess = z
  .object({
    /** Identities that may read every scan's evidence, besides the scanner that owns the scan. */
    readers: z.array(identityPattern).default([]),
    /** Identities that may read `/metrics`, `/healthz/ready` and `/healthz/traversal`; default: the last hop and every scanner. */
    ops: z.array(identityPattern).optional(),
  })
  .strict();

/** The registry behind an `oci-registry` service's guard (docs/topology.md#oci-registry). */
const registryConfig = z
  .object({
    /** Where the registry program listens (mTLS, loopback only); the guard forwards here. */
    listen: listenAddress,
    /** Folder of the registry's filesystem storage; default `registry/<service id>` beside the topology file. */
    rootDirectory: filePath.optional(),
  })
  .strict();

const sqliteStorage = z.object({ kind: z.literal('sqlite'), file: filePath }).strict();
const postgresStorage = z
  .object({
    kind: z.literal('postgres'),
    /** A connection URL, or `env:NAME` to read it from the environment (never commit passwords). */
    url: z.string().min(1),
  })
  .strict();

export const serviceSchema = z
  .object({
    id: z.string().regex(HOP_ID_PATTERN, `service id must match ${HOP_ID_SOURCE}`),
    kind: z.enum(SERVICE_KINDS),
    listen: listenAddress,
    /**
     * More instances of the same service (docs/topology.md#replicas): `listen` is replica 0, these
     * are replicas 1…n, each run with `serve --replica N`; the last hop balances over all of them.
     */
    replicas: z.array(listenAddress).min(1).max(16).optional().describe('more listen addresses of the same service, each one a replica run with serve --replica N (N = 1…); the last hop load-balances over listen and these'),
    serverName: serverName.optional(),
    /** Server certificate; defaults to `<pki.dir>/issued/service/<id>/`. */
    tls: certificateFiles.optional(),
    storage: z.discriminatedUnion('kind', [sqliteStorage, postgresStorage]).optional(),
    /** Required for, and only for, an `oci-registry`: the registry the guard forwards to. */
    registry: registryConfig.optional(),
    /** Ed25519 PEM private key that signs traversal receipts (evidence-locker only). */
    receiptKey: filePath.optional(),
    /** How many distinct scanner keys must verify an envelope. */
    envelopeThreshold: z.number().int().min(1).max(16).default(1),
    maxBodyBytes: z.number().int().positive().default(DEFAULT_MAX_BODY_BYTES),
    /** An evidence-locker's limit on one artifact upload, streamed into the store (docs/services.md#size). */
    maxArtifactBytes: z.number().int().positive().default(DEFAULT_MAX_ARTIFACT_BYTES),
    access: serviceAccess.default({ readers: [] }),
    /** `require: v2` refuses requests that carry only v1 records (docs/provenance.md#v2-choosing-the-version). */
    provenance: z.object({ require: z.literal('v2').optional() }).strict().optional(),
  })
  .strict();

export const provenanceSchema = z
  .object({
    maxHops: z.number().int().min(1).max(32).default(DEFAULT_MAX_HOPS),
    clockSkewSeconds: z.number().int().min(0).max(600).default(DEFAULT_CLOCK_SKEW_SECONDS),
    maxAgeSeconds: z.number().int().min(1).max(3600).default(DEFAULT_MAX_AGE_SECONDS),
    maxHeaderBytes: z.number().int().min(256).max(65536).default(DEFAULT_MAX_PROVENANCE_HEADER_BYTES),
  })
  .strict();

export const headerRulesSchema = z
  .object({
    /** Extra request headers the edge removes, on top of docs/provenance.md#rules-for-every-hop, rule 1. */
    strip: z.array(z.string().regex(/^[A-Za-z0-9-]{1,64}$/)).default([]),
  })
  .strict();

export const topologySchema = z
  .object({
    $schema: z.string().optional(),
    apiVersion: z.literal('stella-gateway/v1'),
    kind: z.literal('Topology'),
    name: z.string().regex(TOPOLOGY_NAME_PATTERN, `name must match ${TOPOLOGY_NAME_SOURCE}`),
    trustDomain: z.string().regex(/^[a-z0-9.-]{1,253}$/, 'trust domain must be a lower-case DNS name'),
    pki: z
      .object({
        dir: filePath,
        /** Trusted CA certificates (roots and intermediates); defaults to `<dir>/ca-bundle.pem`. */
        caBundle: filePath.optional(),
        /** CRLs of every CA of the hierarchy; defaults to `<dir>/crl.pem`. */
        crl: filePath.optional(),
        /** Seconds within which a new CRL, CA bundle or certificate is in use everywhere. */
        reloadSeconds: z.number().int().min(1).max(3600).default(DEFAULT_PKI_RELOAD_SECONDS),
      })
      .strict(),
    scanners: z.array(scannerSchema).min(1),
    hops: z.array(hopSchema).min(1),
    services: z.array(serviceSchema).min(1),
    provenance: provenanceSchema.default({
      maxHops: DEFAULT_MAX_HOPS,
      clockSkewSeconds: DEFAULT_CLOCK_SKEW_SECONDS,
      maxAgeSeconds: DEFAULT_MAX_AGE_SECONDS,
      maxHeaderBytes: DEFAULT_MAX_PROVENANCE_HEADER_BYTES,
    }),
    headers: headerRulesSchema.default({ strip: [] }),
  })
  .strict();

/** A topology as written in the file (defaults not yet applied). */
export type TopologyInput = z.input<typeof topologySchema>;
/** A topology after parsing, with defaults applied. Paths are still as written. */
export type Topology = z.output<typeof topologySchema>;
export type Hop = Topology['hops'][number];
export type StampingHop = Hop & { stamp: Exclude<Hop['stamp'], false> };
export type Scanner = Topology['scanners'][number];
export type Service = Topology['services'][number];
export type CertificateFiles = z.output<typeof certificateFiles>;
export type MacKeyRef = z.output<typeof macKey>;
/** A v2 signing key reference: `{ kid, file, publicFile? }`. */
export type V2SigningKeyRef = z.output<typeof v2SigningKey>;
/** One of {@link V2_STAMP_ALGS}. */
export type V2StampAlg = (typeof V2_STAMP_ALGS)[number];
/** Where a forward-auth stamper is reached: `{ socket, gatewayUser? }` or `{ listen }` (mTLS). */
export type StamperConfig = z.output<typeof stamperConfig>;
/** A hop's `limits`, every field present (the schema's defaults). */
export type HopLimits = z.output<typeof hopLimits>;
/** A WAF hop's `waf`, every field present (the schema's defaults). */
export type WafSettings = z.output<typeof wafConfig>;

/** A hop's limits when the topology sets none: what `resolveTopology` fills in (docs/topology.md#the-resolved-model). */
export const DEFAULT_HOP_LIMITS: Readonly<HopLimits> = {
  maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
  maxArtifactBytes: DEFAULT_MAX_ARTIFACT_BYTES,
  upstreamTimeoutSeconds: DEFAULT_UPSTREAM_TIMEOUT_SECONDS,
};
/** A hop's WAF settings when the topology sets none: what `resolveTopology` fills in. */
export const DEFAULT_WAF_SETTINGS: Readonly<WafSettings> = {
  paranoiaLevel: DEFAULT_PARANOIA_LEVEL,
  inboundAnomalyThreshold: DEFAULT_INBOUND_ANOMALY_THRESHOLD,
};
