/**
 * A safety net for harnesses that start things outside the test process (agent
 * processes, network namespaces): `atExit(fn)` runs `fn` when the test process exits
 * or is told to stop (SIGINT, SIGTERM, SIGHUP), whatever the test runner does. After a
 * signal, the signal is raised again so that it does what it would have done without
 * us (other handlers, or the default exit). Each `fn` must be synchronous and safe to
 * run twice.
 */
const cleanups = new Set<() => void>();
let installed = false;

function runAll(): void {
  for (const fn of cleanups) {
    try {
      fn();
    } catch {
      // a clean-up that fails must not stop the others
    }
  }
}

export function atExit(fn: () => void): void {
  cleanups.add(fn);
  if (installed) return;
  installed = true;
  process.once('exit', runAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      runAll();
      process.removeListener(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}
