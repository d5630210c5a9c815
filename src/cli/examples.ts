/**
 * The examples `--help` shows under each command, in one table so that a test can run every one
 * through the command tree (test/cli/help.test.ts: each names a real command and only its flags).
 * Keys are command paths (`gateway render`); the root is `''`. Paths follow
 * docs/operations/running.md.
 */
import type { Command } from 'commander';

/** Example command lines per command path, each without the leading `stella-gateway`. */
export const COMMAND_EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  '': ['pki bootstrap --topology topology.yaml', 'topology validate topology.yaml', 'serve --topology topology.yaml --service evidence-locker', 'probe --topology topology.yaml', 'completion bash > /etc/bash_completion.d/stella-gateway'],
  dsse: ['dsse keygen --alg ed25519 --out keys/scanner.key', 'dsse sign --payload-type application/vnd.in-toto+json --key keys/scanner.key --in report.json --out report.dsse.json'],
  'dsse sign': ['dsse sign --payload-type application/vnd.in-toto+json --key keys/scanner.key --keyid scanner-01 --in report.json --out report.dsse.json'],
  'dsse verify': ['dsse verify --payload-type application/vnd.in-toto+json --key keys/scanner.key.pub --in report.dsse.json', 'dsse verify --payload-type application/vnd.in-toto+json --key a.pub --key b.pub --threshold 2 --in report.dsse.json --json'],
  'dsse keygen': ['dsse keygen --alg ed25519 --out keys/scanner.key', 'dsse keygen --alg hmac-sha256 --out keys/hop-mac.key --force'],
  pki: ['pki init --dir pki --trust-domain stella.example', 'pki bootstrap --topology topology.yaml'],
  'pki init': ['pki init --dir pki --trust-domain stella.example'],
  'pki issue': ['pki issue --dir pki --role gateway --name gw-edge --dns gw-edge.stella.example --ip 10.0.0.5 --ttl 24h', 'pki issue --dir pki --role scanner --name scanner-01 --out /etc/stella/scanner-01 --json'],
  'pki revoke': ['pki revoke --dir pki --serial 4f2a9c…'],
  'pki inspect': ['pki inspect pki/issued/gateway/gw-edge/cert.pem', 'pki inspect --json pki/ca/root.pem'],
  'pki token': ['pki token --dir pki --role scanner --name scanner-02 --ttl 15m --cert-ttl 24h'],
  'pki serve': ['pki serve --dir pki --listen 127.0.0.1:9444'],
  'pki rollover': ['pki rollover --dir pki --step add', 'pki rollover --dir pki --step activate', 'pki rollover --dir pki --step retire'],
  'pki bootstrap': ['pki bootstrap --topology topology.yaml', 'pki bootstrap --topology topology.yaml --ttl 72h --json'],
  'pki crl': ['pki crl --dir pki'],
  topology: ['topology validate topology.yaml', 'topology graph --format svg --out chain.svg topology.yaml'],
  'topology validate': ['topology validate topology.yaml', 'topology validate --no-files --json topology.yaml'],
  'topology schema': ['topology schema --out schema/topology.schema.json'],
  'topology graph': ['topology graph topology.yaml', 'topology graph --format dot --out chain.dot topology.yaml'],
  gateway: ['gateway render --topology topology.yaml --out gateways --check', 'gateway run --topology /srv/stella/topology.yaml --hop gw-edge --out /srv/stella/gateways'],
  'gateway render': ['gateway render --topology topology.yaml --out gateways --check', 'gateway render --topology topology.yaml --out build/gw --install-dir /etc/stella/gateways --json'],
  'gateway run': ['gateway run --topology /srv/stella/topology.yaml --hop gw-edge --out /srv/stella/gateways', 'gateway run --topology topology.yaml --hop gw-internal --out gateways --reload-seconds 5'],
  'gateway check-envoy': ['gateway check-envoy gateways/gw-edge/envoy.yaml'],
  serve: ['serve --topology topology.yaml --service evidence-locker', 'serve --topology topology.yaml --service scanner-webservice --listen 127.0.0.1:9445'],
  stamper: ['stamper --topology topology.yaml --hop gw-edge', 'stamper --topology topology.yaml --hop gw-edge --socket /run/stella/gw-edge.sock --metrics-listen 127.0.0.1:9464'],
  guard: ['guard --topology topology.yaml --service registry'],
  scanner: ['scanner submit --topology topology.yaml --scanner scanner-01 --scan-id scan-1 report.json', 'scanner run --topology topology.yaml --scanner scanner-01 --spool /var/spool/stella/scanner-01'],
  'scanner submit': ['scanner submit --topology topology.yaml --scanner scanner-01 --scan-id scan-1 report.json sbom.json', 'scanner submit --topology topology.yaml --scanner scanner-01 --scan-id scan-2 --deadline 2m --json report.json'],
  'scanner run': ['scanner run --topology topology.yaml --scanner scanner-01 --spool /var/spool/stella/scanner-01', 'scanner run --topology topology.yaml --scanner scanner-01 --spool spool --retention 12h --backoff-max 30s'],
  'scanner status': ['scanner status --outbox var/scanner-01.outbox.db', 'scanner status --outbox var/scanner-01.outbox.db --json'],
  'scanner prune': ['scanner prune --outbox var/scanner-01.outbox.db --older-than 7d', 'scanner prune --outbox var/scanner-01.outbox.db --all --json'],
  probe: ['probe --topology topology.yaml', 'probe --topology topology.yaml --scanner scanner-02 --json'],
  evidence: ['evidence verify --db var/evidence-locker.db --topology topology.yaml', 'evidence export --db var/evidence-locker.db --scan scan-1 --out scan-1.json'],
  'evidence verify': ['evidence verify --db var/evidence-locker.db --topology topology.yaml --hop-keys', 'evidence verify --in export.json --receipt-key keys/receipt.key.pub --key keys/scanner.key.pub --json'],
  'evidence export': ['evidence export --db var/evidence-locker.db --scan scan-1 --out scan-1.json', 'evidence export --db var/evidence-locker.db --sha256 9f86d0…'],
  demo: ['demo', 'demo --topology examples/topology-two-edges.yaml --keep --dir /tmp/stella-demo'],
  systemd: ['systemd render --topology /etc/stella/topology.yaml --out units'],
  'systemd render': ['systemd render --topology /etc/stella/topology.yaml --out units', 'systemd render --topology /etc/stella/topology.yaml --out units --exec /usr/local/bin/stella-gateway --user stella-gw'],
  completion: ['completion bash > /etc/bash_completion.d/stella-gateway', 'source <(stella-gateway completion bash)', 'completion zsh > "${fpath[1]}/_stella-gateway"'],
};

/** The path of a command below the root (`gateway render`; `''` for the root). */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Every command of a tree, the root first. */
export function allCommands(root: Command): Command[] {
  return [root, ...root.commands.flatMap((c) => allCommands(c))];
}

/** Adds an "Examples:" block after the help of every command the table names. */
export function addExamples(root: Command, bin: string): void {
  for (const command of allCommands(root)) {
    const examples = COMMAND_EXAMPLES[commandPath(command)];
    if (!examples || examples.length === 0) continue;
    command.addHelpText('after', `\nExamples:\n${examples.map((e) => `  $ ${e.startsWith('source ') ? e : `${bin} ${e}`}`).join('\n')}\n`);
  }
}
