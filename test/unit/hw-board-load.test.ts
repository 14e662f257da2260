/** Board identification (injected sources and this machine) and the load sampler (a real blocked loop). */
import t from 'tap';
import { createRequire } from 'node:module';
import { isSlowBoard, parseOsRelease, readBoard, type BoardSources } from '../../hw/board.js';
import { LoadSampler } from '../../hw/load.js';

const fake = (dt: string | null, si: Awaited<ReturnType<BoardSources['systemInfo']>>, delayMs = 0): BoardSources => ({
  deviceTreeModel: async () => dt,
  systemInfo: () => new Promise((r) => setTimeout(() => r(si), delayMs).unref()),
});
const SI = { brand: 'ARM Cortex-A8', speedGHz: 1, distro: 'Debian GNU/Linux', release: '12', kernel: '6.1.0', systemModel: 'BeagleBoard.org' };

t.test('board: the device-tree model wins; systeminformation fills CPU and OS; a slow source is cut off', async (t) => {
  const bbb = await readBoard(fake('TI AM335x BeagleBone Black', SI));
  t.same([bbb.model, bbb.modelSource, bbb.cpu.brand, bbb.os.release], ['TI AM335x BeagleBone Black', 'device-tree', 'ARM Cortex-A8', '12']);
  t.ok(isSlowBoard(bbb), 'a BeagleBone is a slow board');
  t.notOk(isSlowBoard({ model: 'Raspberry Pi 5 Model B Rev 1.0', cores: 4 }), 'a Raspberry Pi 5 is not');
  const vm = await readBoard(fake(null, { ...SI, systemModel: 'QEMU Standard PC' }));
  t.same([vm.model, vm.modelSource], ['QEMU Standard PC', 'system']);
  const t0 = Date.now();
  const slow = await readBoard(fake(null, SI, 5000), 100);
  t.ok(Date.now() - t0 < 2000, 'the timeout bounds the wait');
  t.same([slow.model, slow.modelSource], ['unknown', 'none']);
  t.ok(slow.cores >= 1 && slow.arch.length > 0, 'arch and cores come from node itself');
});

t.test('board: this machine', async (t) => {
  const b = await readBoard();
  t.ok(b.cores >= 1, `${b.model} (${b.modelSource}), ${b.arch}, ${b.cores} cores, ${b.cpu.brand}, ${b.os.distro} ${b.os.release}`);
});

t.test('board: on Linux the facts come from os-release, DMI and node:os, without loading systeminformation', async (t) => {
  t.same(parseOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n# comment\nBAD LINE\nQ=\'it\\\'s\'\n'), { PRETTY_NAME: 'Debian GNU/Linux 12 (bookworm)', NAME: 'Debian GNU/Linux', VERSION_ID: '12', ID: 'debian', Q: "it's" });
  if (process.platform !== 'linux') return void t.pass('not Linux: nothing more to check');
  const b = await readBoard();
  t.ok(b.os.distro.length > 0 && b.os.kernel.length > 0 && b.cpu.brand.length > 0, `${b.os.distro} ${b.os.release}, ${b.os.kernel}, ${b.cpu.brand}`);
  const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('/systeminformation/'));
  t.same(loaded, [], 'systeminformation not loaded (it costs ~4 MiB of RSS and child processes)');
});

t.test('load: a 300 ms block of the loop shows as loop delay; load fractions stay in range', async (t) => {
  const s = new LoadSampler(60_000); // the test closes the intervals itself
  s.start();
  await new Promise((r) => setTimeout(r, 50));
  const quiet = s.sample();
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  // (A stall in the very tick of a sample counts too: hw-stall-resolution.test.ts.)
  await new Promise((r) => setTimeout(r, 25));
  const end = Date.now() + 300;
  while (Date.now() < end);
  await new Promise((r) => setTimeout(r, 30));
  const blocked = s.sample();
  const used = process.cpuUsage(cpu0);
  const expected = (used.user + used.system) / 1000 / (performance.now() - wall0);
  s.stop();
  t.ok(blocked.eventLoopDelay.maxMs >= 200, `max loop delay ${blocked.eventLoopDelay.maxMs.toFixed(0)} ms after a 300 ms block`);
  t.ok(quiet.eventLoopDelay.maxMs < blocked.eventLoopDelay.maxMs, 'more than in the quiet interval');
  // How much CPU the busy loop got depends on what else runs on the machine: compare with this
  // process's own account of the same interval rather than with a fixed share of a core.
  t.ok(Math.abs(blocked.processCpu - expected) < 0.2, `the sampler saw the busy loop's CPU (${blocked.processCpu.toFixed(2)} cores; process.cpuUsage says ${expected.toFixed(2)})`);
  for (const x of [quiet, blocked]) t.ok(x.cpuLoad >= 0 && x.cpuLoad <= 1 && x.gc.count >= 0);
});
