/**
 * systemd units for every part of a topology (docs/operations/running.md#run-it-under-systemd): one
 * unit per service (`serve`, or `guard` for an `oci-registry`), per forward-auth stamper, per hop
 * (`gateway run`) and per scanner worker (`scanner run`), a sysusers.d file for the account, and a
 * README.txt with the commands that install them. Pure: returns files; the CLI writes them.
 *
 * Each unit: `Restart=on-failure`, its own account, only the keys that part loads, as
 * `LoadCredential=` (read back through `$CREDENTIALS_DIRECTORY`, src/topology/credentials.ts), a
 * read-only system with write access to its own state only, and the hardening the process allows.
 */
import { dirname, posix } from 'node:path';
import type { RenderedFile } from '../gateways/types.js';
import { splitListen, stamperEndpoint } from '../gateways/chain.js';
import { gatewayKind } from '../gateways/kinds.js';
import { credentialsOfPart, type DeploymentPart } from '../topology/credentials.js';
import type { ResolvedHop, ResolvedTopology } from '../topology/resolve.js';

/** Options of {@link renderSystemdUnits}. */
export interface SystemdUnitsOptions {
  /** Absolute path of the topology file where the units will read it. */
  readonly topologyFile: string;
  /** The installed CLI; default {@link DEFAULT_EXEC}. */
  readonly exec?: string;
  /** The account the parts run as (unless a part needs another); default {@link DEFAULT_USER}. */
  readonly user?: string;
}

/** Where `npm install -g` puts the CLI on Debian with the distribution's Node.js. */
export const DEFAULT_EXEC = '/usr/bin/stella-gateway';
/** The account the units run as, created by the rendered sysusers.d file. */
export const DEFAULT_USER = 'stella';
/** The root of every unit's state (`StateDirectory=stella/…`). */
export const STATE_ROOT = '/var/lib/stella';
/** The folder scanners' spools live in (`/var/spool/stella/<scanner>`). */
export const SPOOL_ROOT = '/var/spool/stella';

/** The unit file name of a part. */
export function unitName(part: DeploymentPart, topology: ResolvedTopology): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(part.id)) throw new TypeError(`unitName: "${part.id}" cannot be a unit name`);
  const verb = part.kind === 'service' ? (topology.services.find((s) => s.id === part.id)?.kind === 'oci-registry' ? 'guard' : 'serve') : part.kind;
  return `stella-${verb}-${part.id}.service`;
}

/** Every part a topology runs as its own process, in start order (the service outwards, scanners last). */
export function deploymentParts(topology: ResolvedTopology): DeploymentPart[] {
  return [
    ...topology.services.map((s) => ({ kind: 'service', id: s.id }) as const),
    ...topology.hops.filter((h) => h.stamp !== false && h.stamp.via === 'forward-auth' && stamperEndpoint(h)).map((h) => ({ kind: 'stamper', id: h.id }) as const),
    ...[...topology.hops].reverse().map((h) => ({ kind: 'gateway', id: h.id }) as const),
    ...topology.scanners.map((s) => ({ kind: 'scanner', id: s.id }) as const),
  ];
}

/**
 * Hardening every unit gets. Not set, on purpose: `MemoryDenyWriteExecute` (V8's JIT writes code),
 * `SystemCallFilter` (not exercised under every program here), `PrivateNetwork` (they all serve).
 */
const HARDENING = [
  'NoNewPrivileges=yes',
  'ProtectSystem=strict',
  'ProtectHome=yes',
  'PrivateTmp=yes',
  'PrivateDevices=yes',
  'ProtectKernelTunables=yes',
  'ProtectKernelModules=yes',
  'ProtectKernelLogs=yes',
  'ProtectControlGroups=yes',
  'ProtectClock=yes',
  'ProtectHostname=yes',
  'RestrictNamespaces=yes',
  'RestrictRealtime=yes',
  'RestrictSUIDSGID=yes',
  'LockPersonality=yes',
  'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
  'SystemCallArchitectures=native',
  'UMask=0077',
];

/** What differs between the units: who runs, what, where it may write, which capabilities. */
interface UnitPlan {
  readonly description: string;
  readonly user: string;
  readonly args: readonly string[];
  readonly writable: readonly string[];
  readonly stateDirectory?: string;
  readonly runtimeDirectory?: string;
  readonly capabilities: readonly string[];
  readonly reload: boolean;
  readonly notes: readonly string[];
}

const needsLowPort = (listen: string): string[] => (splitListen(listen).port < 1024 ? ['CAP_NET_BIND_SERVICE'] : []);

function planOf(topology: ResolvedTopology, part: DeploymentPart, user: string): UnitPlan {
  const base = { writable: [] as string[], capabilities: [] as string[], reload: false, notes: [] as string[] };
  switch (part.kind) {
    case 'service': {
      const service = topology.services.find((s) => s.id === part.id)!;
      const guard = service.kind === 'oci-registry';
      const writable = service.storage?.kind === 'sqlite' ? [dirname(service.storage.file)] : [];
      return {
        ...base,
        description: guard ? `verifying guard of ${service.id}` : `${service.kind} service ${service.id}`,
        user,
        args: [guard ? 'guard' : 'serve', '--service', service.id],
        writable,
        capabilities: needsLowPort(service.listen),
        notes: writable.map((w) => `SQLite store: ${w} must exist, writable by ${user}`),
      };
    }
    case 'stamper': {
      const hop = hopOf(topology, part.id);
      const endpoint = stamperEndpoint(hop);
      // Handing the socket to another account takes root (lchown): docs/provenance.md#the-forward-auth-stamper.
      const handsOver = endpoint?.kind === 'unix' && endpoint.gatewayUser !== null && endpoint.gatewayUser !== undefined;
      const socketDir = endpoint?.kind === 'unix' ? dirname(dirname(endpoint.socket)) : undefined;
      const underRun = socketDir !== undefined && (socketDir === '/run' || socketDir.startsWith('/run/'));
      return {
        ...base,
        description: `forward-auth stamper of hop ${hop.id}`,
        user: handsOver ? 'root' : user,
        args: ['stamper', '--hop', hop.id],
        ...(underRun && socketDir !== '/run' ? { runtimeDirectory: socketDir.slice('/run/'.length) } : {}),
        writable: socketDir && !underRun ? [socketDir] : [],
        capabilities: [...(handsOver ? ['CAP_CHOWN'] : []), ...(endpoint?.kind === 'mtls' ? needsLowPort(endpoint.listen) : [])],
      };
    }
    case 'gateway': {
      const hop = hopOf(topology, part.id);
      const state = `stella/gateways/${hop.id}`;
      const endpoint = stamperEndpoint(hop);
      // How the kind's unit differs (GATEWAY_KINDS): Apache's root parent reads keys and certificates, its children drop to www-data.
      const unit = gatewayKind(hop.kind).unit ?? {};
      return {
        ...base,
        description: `${hop.kind} hop ${hop.id}`,
        user: unit.asRoot ? 'root' : endpoint?.kind === 'unix' && endpoint.gatewayUser ? endpoint.gatewayUser : user,
        args: ['gateway', 'run', '--hop', hop.id, '--out', `${STATE_ROOT}/gateways/${hop.id}`],
        stateDirectory: state,
        capabilities: unit.capabilities ?? needsLowPort(hop.listen),
        reload: true,
        notes: [...(unit.notes ?? [])],
      };
    }
    case 'scanner': {
      const spool = `${SPOOL_ROOT}/${part.id}`;
      return {
        ...base,
        description: `scanner worker ${part.id}`,
        user,
        args: ['scanner', 'run', '--scanner', part.id, '--spool', spool, '--outbox', `${STATE_ROOT}/scanners/${part.id}/outbox.db`],
        stateDirectory: `stella/scanners/${part.id}`,
        writable: [spool],
        notes: [`spool: ${spool} must exist, writable by ${user} and by whoever drops scans there`],
      };
    }
  }
}

function hopOf(topology: ResolvedTopology, id: string): ResolvedHop {
  const hop = topology.hops.find((h) => h.id === id);
  if (!hop) throw new TypeError(`no hop ${id}`);
  return hop;
}

/** One unit's text. */
export function renderUnit(topology: ResolvedTopology, part: DeploymentPart, options: SystemdUnitsOptions): string {
  const plan = planOf(topology, part, options.user ?? DEFAULT_USER);
  const exec = options.exec ?? DEFAULT_EXEC;
  const argv = [exec, plan.args[0]!, ...(plan.args[0] === 'gateway' ? [plan.args[1]!] : []), '--topology', options.topologyFile, ...plan.args.slice(plan.args[0] === 'gateway' ? 2 : 1)];
  const credentials = credentialsOfPart(topology, part);
  const lines = [
    `# ${unitName(part, topology)}: ${plan.description} of topology ${topology.name}.`,
    '# Rendered by `stella-gateway systemd render`; docs/operations/running.md#run-it-under-systemd.',
    ...plan.notes.map((n) => `# Before the first start: ${n}.`),
    '[Unit]',
    `Description=Stella Gateway Traversal: ${plan.description}`,
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=exec',
    `ExecStart=${argv.map(unitWord).join(' ')}`,
    ...(plan.reload ? ['# SIGHUP: gateway run reloads the program gracefully.', 'ExecReload=/bin/kill -HUP $MAINPID', '# SIGTERM to gateway run only: it stops the program by PID, in-flight requests finish.', 'KillMode=mixed'] : []),
    'Restart=on-failure',
    'RestartSec=5s',
    'TimeoutStopSec=30s',
    ...(plan.user === 'root' ? ['# Runs as root: see the capability bounding set below for what it keeps.'] : [`User=${plan.user}`, `Group=${plan.user}`]),
    ...(plan.stateDirectory ? [`StateDirectory=${plan.stateDirectory}`] : []),
    ...(plan.runtimeDirectory ? [`RuntimeDirectory=${plan.runtimeDirectory}`, 'RuntimeDirectoryPreserve=yes', 'RuntimeDirectoryMode=0755'] : []),
    ...plan.writable.map((w) => `ReadWritePaths=${unitWord(w)}`),
    '# env: references of the topology (services[].storage.url), one NAME=value a line, mode 0600.',
    `EnvironmentFile=-${unitWord(posix.join(posix.dirname(options.topologyFile), unitName(part, topology).replace(/\.service$/, '.env')))}`,
    ...(credentials.length > 0 ? ['# Keys, read by the part from $CREDENTIALS_DIRECTORY/<name> (src/topology/credentials.ts).'] : []),
    ...credentials.map((c) => `LoadCredential=${c.name}:${unitWord(c.file)}`),
    ...HARDENING,
    `CapabilityBoundingSet=${plan.capabilities.join(' ')}`,
    ...(plan.user !== 'root' && plan.capabilities.length > 0 ? [`AmbientCapabilities=${plan.capabilities.join(' ')}`] : []),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ];
  return lines.join('\n');
}

/** A word of a unit's command line or path setting: specifiers escaped, quoted when it has spaces. */
function unitWord(word: string): string {
  const escaped = word.replace(/%/g, '%%');
  return /[\s"'\\;$]/.test(escaped) ? `"${escaped.replace(/(["\\])/g, '\\$1').replace(/\$/g, '$$$$')}"` : escaped;
}

/**
 * Every unit of a topology, its sysusers.d file and README.txt.
 *
 * @example
 * renderSystemdUnits(topology, { topologyFile: '/etc/stella/topology.yaml' }).map((f) => f.path);
 * // ['stella-serve-evidence-locker.service', …, 'sysusers.d/stella.conf', 'README.txt']
 */
export function renderSystemdUnits(topology: ResolvedTopology, options: SystemdUnitsOptions): RenderedFile[] {
  if (!posix.isAbsolute(options.topologyFile)) throw new TypeError(`renderSystemdUnits: topologyFile must be absolute, got ${options.topologyFile}`);
  const user = options.user ?? DEFAULT_USER;
  const parts = deploymentParts(topology);
  const units = parts.map((part) => ({ path: unitName(part, topology), contents: renderUnit(topology, part, options) }));
  const setup = parts.flatMap((part) => planOf(topology, part, user).writable.map((w) => `install -d -o ${user} -g ${user} -m 0750 ${w}`));
  const readme = [
    `systemd units of topology ${topology.name}, in start order (docs/operations/running.md#run-it-under-systemd).`,
    '',
    'Install:',
    '  cp sysusers.d/stella.conf /etc/sysusers.d/ && systemd-sysusers',
    `  cp stella-*.service /etc/systemd/system/ && systemctl daemon-reload`,
    ...[...new Set(setup)].map((s) => `  ${s}`),
    `  chgrp -R ${user} ${topology.pki.dir} && chmod -R g+rX ${topology.pki.dir}   # leaves are read in place (renewed while running)`,
    '',
    'Start (each waits for nothing: start them in this order):',
    ...units.map((u) => `  systemctl enable --now ${u.path}`),
    '',
  ].join('\n');
  return [...units, { path: 'sysusers.d/stella.conf', contents: `# The account the Stella Gateway Traversal units run as.\nu ${user} - "Stella Gateway Traversal" ${STATE_ROOT}\n` }, { path: 'README.txt', contents: readme }];
}
