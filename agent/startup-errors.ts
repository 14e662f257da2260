/**
 * Why `cohort agent` could not start, as one line and an exit code a supervisor can act on.
 * The classes (README "Exit codes"):
 *   2  usage or configuration: a flag or field is wrong; fix the command line or the file
 *   3  environment: the configuration is fine but this machine cannot honour it (a port in
 *      use, an address it does not have, a state directory that is a file or read-only, a
 *      damaged state file, a component module that is not there)
 *   4  runtime: anything else that went wrong while starting or running
 * The stack goes to the debug log only (`--log-level debug`).
 */
import { ConfigError, EnvironmentError, type AgentConfig } from './config.js';
import { ComponentError } from './components/host.js';
import { MdnsOptionsError } from '../discovery/mdns.js';
import { StateFileError } from './runtime/hard-state-store.js';

export const EXIT = { ok: 0, usage: 2, environment: 3, runtime: 4 } as const;

export interface StartupFailure {
  code: (typeof EXIT)[keyof typeof EXIT];
  /** One line: the flag or field, the value, what to do. */
  line: string;
}

/** Where a value came from, for naming it: the flag when given on the command line. */
export type FieldLabel = (key: 'busPort' | 'directPort' | 'http' | 'listen' | 'interface' | 'components') => string;

interface SysError {
  code?: string;
  address?: string;
  port?: number;
  syscall?: string;
}

function sysCause(err: unknown): SysError | null {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as SysError).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return e as SysError;
  }
  return null;
}

/** The port in `tcp://host:port` or a Node listen error. */
function portOf(sys: SysError): number | null {
  if (typeof sys.port === 'number') return sys.port;
  const m = /:(\d+)$/.exec(sys.address ?? '');
  return m ? Number(m[1]) : null;
}

export function explainStartupError(err: unknown, config: AgentConfig, label: FieldLabel, where: 'transport' | 'http' | 'other' = 'other'): StartupFailure {
  const message = (err as Error)?.message ?? String(err);
  if (err instanceof ConfigError || err instanceof MdnsOptionsError) {
    return { code: err instanceof ConfigError ? EXIT.usage : EXIT.environment, line: message };
  }
  if (err instanceof EnvironmentError || err instanceof StateFileError) return { code: EXIT.environment, line: message };
  if (err instanceof ComponentError) {
    const i = config.components.findIndex((c) => message.startsWith(`component ${c.name}:`));
    const field = label('components') === 'components' ? `components[${i < 0 ? '?' : i}]` : '--component';
    if (err.stage === 'missing') return { code: EXIT.environment, line: `${field}: ${message}: check the path (relative to the config file)` };
    if (err.stage === 'construct') return { code: EXIT.runtime, line: `${field}: ${message}` };
    return { code: EXIT.usage, line: `${field}: ${message}` };
  }
  const sys = sysCause(err);
  if (sys && (where === 'transport' || where === 'http')) {
    const port = portOf(sys);
    let flag: string;
    let value: string;
    if (where === 'http') {
      flag = label('http');
      value = config.http ?? '';
    } else if (sys.code === 'EADDRINUSE' && port !== null && port === config.directPort && port !== config.busPort) {
      flag = label('directPort');
      value = String(port);
    } else if (sys.code === 'EADDRINUSE') {
      flag = label('busPort');
      value = String(port ?? config.busPort);
    } else {
      flag = label('listen');
      value = config.listen;
    }
    if (sys.code === 'EADDRINUSE') {
      return { code: EXIT.environment, line: `${flag} ${value}: the port is already in use (another agent or program listens there): pick another port, or 0 for any free one` };
    }
    if (sys.code === 'EADDRNOTAVAIL' || sys.code === 'ENODEV' || sys.code === 'ENOTFOUND' || sys.code === 'EAI_AGAIN') {
      return { code: EXIT.environment, line: `${flag} ${value}: cannot bind: this machine has no such address (${sys.code}): use one of its own addresses, or 0.0.0.0 with --advertise` };
    }
    if (sys.code === 'EACCES') {
      return { code: EXIT.environment, line: `${flag} ${value}: permission denied (ports below 1024 need root): pick a port from 1024 up` };
    }
    return { code: EXIT.environment, line: `${flag} ${value}: cannot bind: ${message}` };
  }
  return { code: EXIT.runtime, line: `could not start: ${message} (run with --log-level debug for the stack)` };
}
