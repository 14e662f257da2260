/** Paths every harness needs: the repository, the CLI agents are started from, test fixtures. */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = join(REPO_ROOT, 'agent/cli.ts');
export const FIXTURES = join(REPO_ROOT, 'test/fixtures');
