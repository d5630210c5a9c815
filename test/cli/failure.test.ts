/**
 * The one map from a failure to its exit code and line (src/cli/failure.ts): every kind of failure
 * gives one line naming the command, none a stack trace unless asked for.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CommanderError } from 'commander';
import { ConfigurationFailure, reportFailure } from '../../src/cli/failure.js';
import { CliError } from '../../src/cli/output.js';
import { PkiError } from '../../src/pki/errors.js';
import { StorageError } from '../../src/storage/types.js';
import { TopologyError } from '../../src/topology/errors.js';

const systemError = (code: string, syscall: string, extra: Record<string, unknown>): Error => Object.assign(new Error(`${syscall} ${code}`), { code, syscall, ...extra });

describe('reportFailure', () => {
  const cases: [string, unknown, number, string][] = [
    ['a port in use', systemError('EADDRINUSE', 'listen', { address: '127.0.0.1', port: 9443 }), 2, 'stella-gateway serve: cannot listen on 127.0.0.1:9443: address already in use (EADDRINUSE); stop the process that holds it or choose another listen address\n'],
    ['an IPv6 port in use', systemError('EADDRINUSE', 'listen', { address: '::1', port: 9443 }), 2, 'stella-gateway serve: cannot listen on [::1]:9443: address already in use (EADDRINUSE); stop the process that holds it or choose another listen address\n'],
    ['a folder it may not write', systemError('EACCES', 'mkdir', { path: '/srv/out' }), 2, 'stella-gateway serve: cannot mkdir /srv/out: permission denied (EACCES); run as a user that may use it, or choose another path or a port above 1023\n'],
    ['an unlisted system error', systemError('ELOOP', 'open', { path: '/a' }), 2, 'stella-gateway serve: cannot open /a: open ELOOP\n'],
    ['a domain error', new StorageError('storage-unavailable', 'PostgreSQL:\n  down'), 1, 'stella-gateway serve: storage-unavailable: PostgreSQL:; down\n'],
    ['a domain error whose registry entry says usage', new PkiError('PKI_NOT_INITIALIZED', 'no CA in /srv/pki'), 2, 'stella-gateway serve: PKI_NOT_INITIALIZED: no CA in /srv/pki\n'],
    ['a domain error whose registry entry says failed', new PkiError('PKI_UNKNOWN_SERIAL', 'no certificate 0a'), 1, 'stella-gateway serve: PKI_UNKNOWN_SERIAL: no certificate 0a\n'],
    ['a domain error met while reading the configuration', new ConfigurationFailure('evidence-locker: PostgreSQL down', new StorageError('storage-unavailable', 'PostgreSQL down')), 2, 'stella-gateway serve: evidence-locker: PostgreSQL down\n'],
    ['a command\'s own error', new CliError('--spool x: not a folder', 2), 2, 'stella-gateway serve: --spool x: not a folder\n'],
    ['a command that printed its result already', new CliError('', 1), 1, ''],
    ['a usage error commander printed', new CommanderError(1, 'commander.unknownOption', 'unknown option'), 2, ''],
    ['--help', new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'), 0, ''],
    ['a bug', new RangeError('index 3\nout of range'), 1, 'stella-gateway serve: unexpected error: RangeError: index 3; out of range; set STELLA_DEBUG=1 for the stack trace\n'],
  ];
  for (const [what, error, exitCode, text] of cases) {
    it(`maps ${what} to exit ${exitCode} and at most one line`, () => {
      assert.deepEqual(reportFailure(error, 'serve'), { exitCode, text });
    });
  }

  it('lists a topology\'s problems one per line under the first, exit 2', () => {
    const error = new TopologyError('TOPOLOGY_INVALID', [{ path: 'hops[0].next', message: 'no hop or service "x"' }, { path: 'name', message: 'required' }]);
    const report = reportFailure(error, 'serve');
    assert.equal(report.exitCode, 2);
    assert.equal(report.text.trimEnd().split('\n').length, 3);
  });

  it('adds the stack trace of an unexpected error only when asked', () => {
    assert.match(reportFailure(new Error('boom'), 'probe', true).text, /^\s+at /m);
  });
});
