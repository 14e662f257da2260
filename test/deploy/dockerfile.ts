/**
 * Dockerfile.arm64, read the way an image builder reads it, for the tests: a parser, a
 * linter (a subset of hadolint's rules plus this project's own), and an executor that
 * performs the file's build and start steps outside a container, in a directory standing
 * for the image's root filesystem. The executor runs exactly the instructions written in the
 * file — nothing is restated in the test — so the image and the test cannot drift apart.
 *
 * Outside a container, absolute paths of the image (those the file itself creates: WORKDIR,
 * COPY destinations, VOLUMEs, absolute ENV values) are relocated under the root directory;
 * the base image stands for this machine (the same Node major, npm, sh).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, delimiter, dirname, join } from 'node:path';

export interface Instruction {
  keyword: string;
  /** The text after the keyword, continuation lines joined. */
  args: string;
  line: number;
}

const KEYWORDS = new Set(['FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL', 'MAINTAINER']);

export class DockerfileError extends Error {
  override name = 'DockerfileError';
}

export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let l = lines[i]!;
    if (/^\s*(#|$)/.test(l)) continue;
    const start = i + 1;
    while (/\\\s*$/.test(l) && i + 1 < lines.length) {
      l = l.replace(/\\\s*$/, ' ');
      i++;
      if (/^\s*#/.test(lines[i]!)) continue; // comment lines inside a continuation are dropped
      l += lines[i]!.trim();
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(l);
    if (!m) throw new DockerfileError(`line ${start}: not an instruction: ${l}`);
    const keyword = m[1]!.toUpperCase();
    if (!KEYWORDS.has(keyword)) throw new DockerfileError(`line ${start}: unknown instruction ${m[1]}`);
    out.push({ keyword, args: m[2]!.trim(), line: start });
  }
  return out;
}

/** A JSON-array (exec form) argument list, or null for the shell form. */
export function execForm(args: string): string[] | null {
  if (!args.startsWith('[')) return null;
  const v = JSON.parse(args) as unknown;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new DockerfileError(`not a JSON array of strings: ${args}`);
  return v as string[];
}

/** `KEY=value KEY2="v 2"` (the ENV/ARG form). */
export function keyValues(args: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const re = /([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(args))) out.push([m[1]!, m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!]);
  if (out.length === 0) throw new DockerfileError(`expected KEY=value, got ${args}`);
  return out;
}

/** `--flag=value` options in front of an instruction's arguments (COPY --from, HEALTHCHECK --interval). */
export function flags(args: string): { flags: Record<string, string>; rest: string } {
  const f: Record<string, string> = {};
  let rest = args;
  for (;;) {
    const m = /^--([a-z-]+)=(\S+)\s+/.exec(rest);
    if (!m) break;
    f[m[1]!] = m[2]!;
    rest = rest.slice(m[0].length);
  }
  return { flags: f, rest };
}

export function expandVars(s: string, vars: Record<string, string>): string {
  return s.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, a: string | undefined, b: string | undefined) => vars[(a ?? b)!] ?? '');
}

export interface Stage {
  name: string;
  image: string;
  instructions: Instruction[];
}

export function stages(ins: Instruction[]): { args: Record<string, string>; stages: Stage[] } {
  const args: Record<string, string> = {};
  const out: Stage[] = [];
  for (const i of ins) {
    if (i.keyword === 'ARG' && out.length === 0) {
      for (const [k, v] of keyValues(i.args)) args[k] = v;
      continue;
    }
    if (i.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args);
      if (!m) throw new DockerfileError(`line ${i.line}: FROM ${i.args}`);
      out.push({ image: expandVars(m[1]!, args), name: m[2] ?? String(out.length), instructions: [] });
      continue;
    }
    if (out.length === 0) throw new DockerfileError(`line ${i.line}: ${i.keyword} before the first FROM`);
    out[out.length - 1]!.instructions.push(i);
  }
  return { args, stages: out };
}

// ---------------------------------------------------------------------------- lint

export interface LintProblem {
  line: number;
  rule: string;
  message: string;
}

/**
 * hadolint's rules that apply to this kind of file (DL3000 absolute WORKDIR, DL3002 last
 * USER not root, DL3006/DL3007 tagged base not `latest`, DL3020 COPY not ADD, DL3025 JSON
 * CMD/ENTRYPOINT, DL3029 no --platform in FROM, DL4000 no MAINTAINER, DL4003/DL4004 one CMD
 * and one ENTRYPOINT), and the project's: multi-stage, `npm ci` not `npm install`, dev
 * dependencies pruned, a HEALTHCHECK, a non-root numeric USER, STOPSIGNAL SIGTERM.
 */
export function lintDockerfile(text: string): LintProblem[] {
  const problems: LintProblem[] = [];
  const p = (line: number, rule: string, message: string) => problems.push({ line, rule, message });
  let ins: Instruction[];
  try {
    ins = parseDockerfile(text);
  } catch (err) {
    return [{ line: 0, rule: 'parse', message: (err as Error).message }];
  }
  const { stages: st } = stages(ins);
  const froms = ins.filter((i) => i.keyword === 'FROM');
  if (st.length < 2) p(froms[0]?.line ?? 0, 'multi-stage', 'build and runtime should be separate stages');
  const names = new Set<string>();
  for (const [k, s] of st.entries()) {
    const from = froms[k]!;
    if (/--platform/.test(from.args)) p(from.line, 'DL3029', 'do not use --platform in FROM (pass it to the build)');
    if (!names.has(s.image)) {
      const tag = /^[^@]+:([^/@]+)(@sha256:[0-9a-f]{64})?$/.exec(s.image);
      if (!tag && !/@sha256:/.test(s.image)) p(from.line, 'DL3006', `base image ${s.image} has no tag`);
      else if (tag?.[1] === 'latest') p(from.line, 'DL3007', `base image ${s.image} uses latest`);
      else if (tag && !/^\d+\.\d+\.\d+/.test(tag[1]!)) p(from.line, 'pin', `base image ${s.image}: pin a full version (e.g. 20.20.2-bookworm-slim)`);
    }
    names.add(s.name);
  }
  for (const i of ins) {
    if (i.keyword === 'MAINTAINER') p(i.line, 'DL4000', 'MAINTAINER is deprecated');
    if (i.keyword === 'ADD') p(i.line, 'DL3020', 'use COPY instead of ADD for files and folders');
    if (i.keyword === 'WORKDIR' && !i.args.startsWith('/') && !i.args.startsWith('$')) p(i.line, 'DL3000', 'use an absolute WORKDIR');
    if ((i.keyword === 'CMD' || i.keyword === 'ENTRYPOINT') && execForm(i.args) === null) p(i.line, 'DL3025', `use the JSON form for ${i.keyword}`);
    if (i.keyword === 'RUN' && /\bnpm (install|i)\b/.test(i.args)) p(i.line, 'npm-ci', 'use npm ci (the lockfile), not npm install');
    if (i.keyword === 'RUN' && /\bcd\s/.test(i.args)) p(i.line, 'DL3003', 'use WORKDIR to switch directories');
    if (i.keyword === 'RUN' && /\|/.test(i.args.replace(/\|\|/g, '')) && !/set -o pipefail/.test(i.args)) p(i.line, 'DL4006', 'set -o pipefail before a pipe');
    if (i.keyword === 'COPY') {
      const from = flags(i.args).flags.from;
      if (from !== undefined && !names.has(from)) p(i.line, 'DL3022', `COPY --from=${from} names no earlier stage`);
    }
  }
  const final = st[st.length - 1];
  if (final) {
    const of = (k: string) => final.instructions.filter((i) => i.keyword === k);
    const users = of('USER');
    const lastUser = users[users.length - 1];
    if (!lastUser) p(0, 'DL3002', 'the final stage runs as root: add a USER');
    else if (/^(root|0)(:|$)/.test(lastUser.args)) p(lastUser.line, 'DL3002', 'the last USER is root');
    else if (!/^\d+(:\d+)?$/.test(lastUser.args)) p(lastUser.line, 'numeric-user', 'use a numeric USER (uid:gid), so runAsNonRoot can check it');
    if (of('HEALTHCHECK').length !== 1) p(0, 'healthcheck', 'the final stage needs exactly one HEALTHCHECK');
    for (const k of ['CMD', 'ENTRYPOINT']) if (of(k).length > 1) p(of(k)[1]!.line, k === 'CMD' ? 'DL4003' : 'DL4004', `more than one ${k}`);
    const stop = of('STOPSIGNAL')[0];
    if (stop && stop.args !== 'SIGTERM') p(stop.line, 'stopsignal', 'the agent hands leadership over on SIGTERM');
    if (!st.some((s) => s.instructions.some((i) => i.keyword === 'RUN' && /--omit=dev/.test(i.args)))) p(0, 'prod-deps', 'dev dependencies are not pruned (--omit=dev)');
  }
  return problems;
}

// ---------------------------------------------------------------------------- executor

export interface ExecutedImage {
  /** The directory standing for the image's root filesystem. */
  root: string;
  /** The final stage's environment (relocated), for starting and health-checking it. */
  env: Record<string, string>;
  /** The final stage's USER as uid/gid, if numeric. */
  user: { uid: number; gid: number } | null;
  workdir: string;
  entrypoint: string[];
  cmd: string[];
  /** The HEALTHCHECK's command: a shell-form string or an exec-form list. */
  healthcheck: { shell: string } | { exec: string[] } | null;
  stopSignal: NodeJS.Signals;
  volumes: string[];
  /** The stage directories, by stage name. */
  stageRoots: Record<string, string>;
}

export interface ExecuteOptions {
  dockerfile: string;
  /** The build context (the repository). */
  context: string;
  /** An empty directory: each stage gets `<workRoot>/<stage>` as its root. */
  workRoot: string;
  /** Environment overrides, as `docker run -e` (applied to the final stage's env). */
  runEnv?: Record<string, string>;
  log?: (line: string) => void;
}

/** The build context after .dockerignore, in the allow-list form this repository uses (`*` then `!entry`). */
export function contextEntries(context: string): string[] {
  const file = join(context, '.dockerignore');
  const all = readdirSync(context);
  if (!existsSync(file)) return all;
  const rules = readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  if (rules[0] !== '*' || rules.slice(1).some((r) => !/^![^*?/]+\/?$/.test(r))) throw new DockerfileError('.dockerignore: only the allow-list form (`*`, then `!name` lines) is understood here');
  const allowed = new Set(rules.slice(1).map((r) => r.slice(1).replace(/\/$/, '')));
  return all.filter((e) => allowed.has(e));
}

export function executeDockerfile(o: ExecuteOptions): ExecutedImage {
  const log = o.log ?? (() => {});
  const text = readFileSync(o.dockerfile, 'utf8');
  const { args, stages: st } = stages(parseDockerfile(text));
  const stageRoots: Record<string, string> = {};
  let last: ExecutedImage | null = null;
  for (const stage of st) {
    const root = join(o.workRoot, stage.name);
    mkdirSync(root, { recursive: true });
    chmodSync(root, 0o755);
    stageRoots[stage.name] = root;
    // The image's own absolute directories, relocated under the stage root.
    const own = new Set<string>();
    for (const i of stage.instructions) {
      if (i.keyword === 'WORKDIR') own.add(i.args);
      if (i.keyword === 'VOLUME') for (const v of execForm(i.args) ?? i.args.split(/\s+/)) own.add(v);
      if (i.keyword === 'COPY') {
        const parts = flags(i.args).rest.split(/\s+/);
        const dest = parts[parts.length - 1]!;
        if (dest.startsWith('/')) own.add(dest.endsWith('/') ? dest.slice(0, -1) : dirname(dest));
      }
      if (i.keyword === 'ENV') for (const [, v] of keyValues(i.args)) for (const part of v.split(':')) if (part.startsWith('/')) own.add(part);
    }
    const prefixes = [...own].filter((d) => d !== '/').sort((a, b) => b.length - a.length);
    const relocate = (s: string) => {
      let out = s;
      for (const d of prefixes) out = out.replace(new RegExp(`(^|[\\s"'=:])${d.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=$|[/\\s"':])`, 'g'), `$1${root}${d}`);
      return out;
    };
    // A container's environment: the base image's PATH (this machine's stands for it), HOME at the
    // image's `/`, and the file's ENV lines; nothing of the test runner's (NODE_OPTIONS and the like).
    // npm keeps using this machine's download cache (as a BuildKit cache mount would).
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: root, npm_config_cache: process.env.npm_config_cache ?? join(homedir(), '.npm') };
    let workdir = root;
    let user: ExecutedImage['user'] = null;
    const image: ExecutedImage = { root, env, user, workdir, entrypoint: [], cmd: [], healthcheck: null, stopSignal: 'SIGTERM', volumes: [], stageRoots };
    for (const i of stage.instructions) {
      const vars = { ...args, ...env };
      switch (i.keyword) {
        case 'ARG':
          for (const [k, v] of keyValues(i.args)) args[k] = v;
          break;
        case 'ENV':
          for (const [k, v] of keyValues(i.args)) env[k] = relocate(expandVars(v, vars));
          break;
        case 'WORKDIR':
          workdir = relocate(expandVars(i.args, vars));
          mkdirSync(workdir, { recursive: true });
          image.workdir = workdir;
          break;
        case 'COPY': {
          const { flags: f, rest } = flags(i.args);
          const parts = rest.split(/\s+/).map((x) => expandVars(x, vars));
          const dest = parts.pop()!;
          const destPath = dest.startsWith('/') ? relocate(dest) : join(workdir, dest);
          for (const src of parts) {
            const base = f.from !== undefined ? stageRoots[f.from] : o.context;
            if (base === undefined) throw new DockerfileError(`line ${i.line}: no stage ${f.from}`);
            const srcPaths = f.from !== undefined ? [join(base, src)] : src === '.' ? contextEntries(o.context).map((e) => join(o.context, e)) : [join(o.context, src)];
            for (const sp of srcPaths) {
              if (!existsSync(sp)) throw new DockerfileError(`line ${i.line}: COPY ${src}: ${sp} does not exist`);
              const intoDir = dest.endsWith('/') || src === '.' || parts.length > 1;
              const target = intoDir ? join(destPath, basename(sp)) : destPath;
              mkdirSync(dirname(target), { recursive: true });
              cpSync(sp, target, { recursive: true, verbatimSymlinks: true });
              if (statSync(sp).isDirectory() && !intoDir) {
                // `COPY dir dest` copies the directory's contents: cpSync did exactly that.
              }
            }
          }
          break;
        }
        case 'RUN': {
          const form = execForm(i.args);
          log(`RUN ${i.args}`);
          const r = form
            ? spawnSync(...withoutRunnerHooks(form[0]!, form.slice(1).map(relocate)), { cwd: workdir, env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' })
            : spawnSync(...withoutRunnerHooks('/bin/sh', ['-c', relocate(i.args)]), { cwd: workdir, env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
          if (r.status !== 0) throw new DockerfileError(`line ${i.line}: RUN ${i.args} failed (exit ${r.status}):\n${(r.stderr || r.stdout).slice(-3000)}`);
          break;
        }
        case 'USER': {
          const m = /^(\d+)(?::(\d+))?$/.exec(i.args);
          user = m ? { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) } : null;
          image.user = user;
          break;
        }
        case 'VOLUME':
          for (const v of execForm(i.args) ?? i.args.split(/\s+/)) {
            mkdirSync(relocate(v), { recursive: true });
            image.volumes.push(relocate(v));
          }
          break;
        case 'HEALTHCHECK': {
          const rest = flags(i.args).rest;
          if (!rest.startsWith('CMD ')) throw new DockerfileError(`line ${i.line}: HEALTHCHECK without CMD`);
          const cmd = rest.slice(4).trim();
          const form = execForm(cmd);
          image.healthcheck = form ? { exec: form.map(relocate) } : { shell: relocate(cmd) };
          break;
        }
        case 'ENTRYPOINT':
          image.entrypoint = (execForm(i.args) ?? ['/bin/sh', '-c', i.args]).map(relocate);
          break;
        case 'CMD':
          image.cmd = (execForm(i.args) ?? ['/bin/sh', '-c', i.args]).map(relocate);
          break;
        case 'STOPSIGNAL':
          image.stopSignal = i.args as NodeJS.Signals;
          break;
        case 'EXPOSE':
        case 'LABEL':
          break;
        default:
          throw new DockerfileError(`line ${i.line}: ${i.keyword} is not supported by this executor`);
      }
    }
    for (const [k, v] of Object.entries(o.runEnv ?? {})) env[k] = v;
    last = image;
  }
  if (!last) throw new DockerfileError('no stage');
  return last;
}

/**
 * A command run through `env -u NODE_OPTIONS`: a test runner (tap's process-info hook) adds its
 * own NODE_OPTIONS to every child's environment, even an explicit one; `env` drops it before the
 * image's program starts, so that runs with exactly the image's environment.
 */
export function withoutRunnerHooks(cmd: string, args: string[]): [string, string[]] {
  return ['env', ['-u', 'NODE_OPTIONS', cmd, ...args]];
}

/** `docker run` of the executed image: ENTRYPOINT + CMD as its USER, in its WORKDIR and env. */
export function startImage(image: ExecutedImage, cmd: string[] = image.cmd): ChildProcess {
  const argv = [...image.entrypoint, ...cmd];
  if (argv.length === 0) throw new DockerfileError('no ENTRYPOINT or CMD');
  const asUser = image.user && process.getuid?.() === 0 ? { uid: image.user.uid, gid: image.user.gid } : {};
  const [command, args] = withoutRunnerHooks(onPath(argv[0]!, image.env.PATH ?? ''), argv.slice(1));
  return spawn(command, args, { cwd: image.workdir, env: image.env, stdio: ['ignore', 'pipe', 'pipe'], ...asUser });
}

/** Run the image's HEALTHCHECK once (as its USER): the exit code, 0 = healthy. */
export function healthcheck(image: ExecutedImage): { status: number | null; output: string } {
  if (!image.healthcheck) throw new DockerfileError('no HEALTHCHECK');
  const asUser = image.user && process.getuid?.() === 0 ? { uid: image.user.uid, gid: image.user.gid } : {};
  const [cmd, args] = 'shell' in image.healthcheck ? ['/bin/sh', ['-c', image.healthcheck.shell]] : [image.healthcheck.exec[0]!, image.healthcheck.exec.slice(1)];
  const r = spawnSync(...withoutRunnerHooks(cmd, args), { cwd: image.workdir, env: image.env, encoding: 'utf8', timeout: 30_000, ...asUser });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Resolve a command name against the image's PATH, as the container runtime does. */
function onPath(cmd: string, path: string): string {
  if (cmd.includes('/')) return cmd;
  for (const dir of path.split(delimiter)) {
    const p = join(dir, cmd);
    if (existsSync(p)) return p;
  }
  return cmd;
}
