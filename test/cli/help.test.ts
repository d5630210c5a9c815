/**
 * `--version`, the examples under `--help`, and `completion bash|zsh`: the version is package.json's,
 * every example names a real command and only its flags, and the completion script, sourced in a
 * real bash, completes what the command tree has. The CLI runs as a child process.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { cliInvocation } from '../../src/io/process.js';
import { buildProgram } from '../../src/cli/main.js';
import { allCommands, COMMAND_EXAMPLES, commandPath } from '../../src/cli/examples.js';
import { requireProgram } from '../support/programs.js';

const cli = (...args: string[]) => {
  const { command, args: full } = cliInvocation(args);
  return spawnSync(command, full, { encoding: 'utf8', timeout: 60_000 });
};
const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

describe('stella-gateway --version', () => {
  it('prints the version of package.json and exits 0', () => {
    for (const flag of ['--version', '-V']) {
      const result = cli(flag);
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, `${manifest.version}\n`);
      assert.equal(result.stderr, '');
    }
  });
});

describe('examples under --help', () => {
  const program = buildProgram();
  const byPath = new Map(allCommands(program).map((c) => [commandPath(c), c]));

  it('exist for every command and group', () => {
    const without = [...byPath.keys()].filter((path) => (COMMAND_EXAMPLES[path] ?? []).length === 0);
    assert.deepEqual(without, []);
  });

  it('each name a real command and only flags that command has', () => {
    for (const [path, examples] of Object.entries(COMMAND_EXAMPLES)) {
      assert.ok(byPath.has(path), `examples for "${path}", which is no command`);
      for (const example of examples) {
        if (example.startsWith('source ')) continue;
        const words = example.split(/\s+/);
        let command: Command = program;
        for (const word of words) {
          const sub = command.commands.find((c) => c.name() === word);
          if (!sub) break;
          command = sub;
        }
        assert.ok(commandPath(command).startsWith(path) || path === '', `"${example}" runs "${commandPath(command)}", listed under "${path}"`);
        const known = new Set([...command.options.flatMap((o) => [o.long, o.short]), '--help']);
        for (const flag of words.filter((w) => w.startsWith('-'))) assert.ok(known.has(flag), `"${example}": ${commandPath(command)} has no ${flag}`);
      }
    }
  });

  it('are printed by --help of a command, after its options', () => {
    const result = cli('gateway', 'run', '--help');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /Options:[\s\S]*\nExamples:\n {2}\$ stella-gateway gateway run --topology \/srv\/stella\/topology.yaml --hop gw-edge/);
  });
});

describe('stella-gateway completion', () => {
  let bash: string;
  let scripts: { bash: string; zsh: string };
  before(() => {
    bash = requireProgram('bash');
    const b = cli('completion', 'bash');
    const z = cli('completion', 'zsh');
    assert.equal(b.status, 0, b.stderr);
    assert.equal(z.status, 0, z.stderr);
    scripts = { bash: b.stdout, zsh: z.stdout };
  });

  /** Sources a script in bash and asks its completion function for `words` (the last one is being typed). */
  function complete(script: string, words: string[], prelude = ''): string[] {
    const quoted = words.map((w) => `'${w}'`).join(' ');
    const program = `${prelude}\n${script}\nCOMP_WORDS=(stella-gateway ${quoted}); COMP_CWORD=${words.length}; _stella_gateway; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const result = spawnSync(bash, ['--norc', '--noprofile', '-c', program], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr, '');
    return result.stdout.split('\n').filter((l) => l !== '');
  }

  it('parses in bash and registers itself for stella-gateway', () => {
    const result = spawnSync(bash, ['--norc', '--noprofile', '-c', `${scripts.bash}\ncomplete -p stella-gateway`], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /complete -o default -F _stella_gateway stella-gateway/);
  });

  it('completes the command groups at the top, from the command tree', () => {
    const top = complete(scripts.bash, ['']);
    for (const c of buildProgram().commands) assert.ok(top.includes(c.name()), `missing ${c.name()}`);
    assert.deepEqual(complete(scripts.bash, ['gateway', 'r']), ['render', 'run']);
    assert.deepEqual(complete(scripts.bash, ['sc']), ['scanner']);
    assert.ok(!top.includes('--help'), 'offers flags before a dash is typed');
  });

  it('completes the flags of the command being typed, after flags and values already given', () => {
    const flags = complete(scripts.bash, ['gateway', 'render', '--topology', 't.yaml', '--']);
    for (const f of ['--out', '--check', '--base-dir', '--install-dir', '--json', '--help']) assert.ok(flags.includes(f), `missing ${f}`);
    assert.ok(!flags.includes('--hop'), 'offers a flag of gateway run');
    assert.deepEqual(complete(scripts.bash, ['--v']), ['--version']);
  });

  it('completes the choices of a flag or argument, and leaves a file flag or argument to file names', () => {
    assert.deepEqual(complete(scripts.bash, ['pki', 'issue', '--role', '']), ['scanner', 'gateway', 'service']);
    assert.deepEqual(complete(scripts.bash, ['dsse', 'keygen', '--alg', 'e']), ['ed25519', 'ecdsa-p256', 'ecdsa-p384']);
    assert.deepEqual(complete(scripts.bash, ['completion', '']), ['bash', 'zsh']);
    assert.deepEqual(complete(scripts.bash, ['serve', '--topology', '']), []);
    assert.deepEqual(complete(scripts.bash, ['topology', 'validate', '']), []);
  });

  it('gives zsh the same function through bashcompinit', () => {
    assert.match(scripts.zsh, /^#compdef stella-gateway\nautoload -U \+X bashcompinit && bashcompinit\n/);
    // No zsh on these machines: the function part runs in bash with the two zsh builtins stubbed.
    const stubs = 'autoload() { :; }; bashcompinit() { :; }';
    assert.deepEqual(complete(scripts.zsh, ['gateway', 'r'], stubs), ['render', 'run']);
    assert.deepEqual(complete(scripts.zsh, ['pki', 'rollover', '--step', ''], stubs), ['add', 'activate', 'retire']);
  });

  it('refuses a shell it does not know with exit 2 and no stack', () => {
    const result = cli('completion', 'fish');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /value 'fish' is invalid for argument 'shell'\. Allowed choices are bash, zsh/);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  });
});
