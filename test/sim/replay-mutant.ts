/** npx tsx test/sim/replay-mutant.ts MUTANT SEED: replay one seed with a mutant everywhere, printing the trace. */
import { GroupMember } from '../../agent/core/member.js';
import { runSeed } from './run.js';
import { MUTANTS } from './mutants.js';

const [name, seedArg] = process.argv.slice(2);
const Broken = MUTANTS[name as keyof typeof MUTANTS];
if (!Broken) throw new Error(`unknown mutant ${name}; known: ${Object.keys(MUTANTS).join(', ')}`);
void GroupMember;
const r = runSeed(Number(seedArg), { factory: (o) => new Broken(o), traceSize: 400 });
console.log(r.trace || 'no violation');
for (const v of r.violations) console.log(`[${v.rule}] at ${v.t}: ${v.text}`);
