/**
 * The documented forms of the protocol's names (docs/protocol.md §1,
 * docs/wire.md), with validators and error messages, in one place.
 *
 * - node name, component name: 1..100 of `[A-Za-z0-9_-]`
 * - member id: `<node>/<component>`
 * - group name: `Type.instance`, each part 1..100 characters that start with a
 *   letter or `_` and use `[A-Za-z0-9_-]`
 * - ballot id: `<member id>#<incarnation>.<seq>`, both decimal integers
 *   without leading zeros (at most 15 digits: incarnations stay below 2^48)
 *
 * Pure: no I/O, no clock. The `…Problem` functions return null for a good
 * value, else a phrase to follow the field's name ("group " + problem), which
 * says what the form is and, where it helps, which part broke it.
 */

const NAME_SRC = '[A-Za-z0-9_-]{1,100}';
const GROUP_PART_SRC = '[A-Za-z_][A-Za-z0-9_-]{0,99}';
const COUNTER_SRC = '(?:0|[1-9][0-9]{0,14})';

export const NODE_NAME_RE = new RegExp(`^${NAME_SRC}$`);
export const COMPONENT_NAME_RE = new RegExp(`^${NAME_SRC}$`);
export const MEMBER_ID_RE = new RegExp(`^${NAME_SRC}/${NAME_SRC}$`);
export const GROUP_PART_RE = new RegExp(`^${GROUP_PART_SRC}$`);
export const GROUP_NAME_RE = new RegExp(`^${GROUP_PART_SRC}\\.${GROUP_PART_SRC}$`);
export const BALLOT_ID_RE = new RegExp(`^(${NAME_SRC}/${NAME_SRC})#(${COUNTER_SRC})\\.(${COUNTER_SRC})$`);

/** Longest member id (100 + 1 + 100). */
export const MAX_MEMBER_ID_LENGTH = 201;
/** Longest group name (100 + 1 + 100). */
export const MAX_GROUP_NAME_LENGTH = 201;
/** Longest ballot id (member id + `#` + 15 digits + `.` + 15 digits). */
export const MAX_BALLOT_ID_LENGTH = MAX_MEMBER_ID_LENGTH + 32;

/** A name that is not of its documented form was passed where one is required. */
export class NameError extends Error {
  override name = 'NameError';
}

export function isNodeName(v: unknown): v is string {
  return typeof v === 'string' && NODE_NAME_RE.test(v);
}

export function isComponentName(v: unknown): v is string {
  return typeof v === 'string' && COMPONENT_NAME_RE.test(v);
}

export function isMemberId(v: unknown): v is string {
  return typeof v === 'string' && MEMBER_ID_RE.test(v);
}

export function isGroupName(v: unknown): v is string {
  return typeof v === 'string' && GROUP_NAME_RE.test(v);
}

export function isBallotId(v: unknown): v is string {
  return typeof v === 'string' && BALLOT_ID_RE.test(v);
}

/** A short, safe rendering of a (possibly hostile) value. */
function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return v === null ? 'null' : typeof v;
}

const NAME_RULE = '1..100 characters of [A-Za-z0-9_-]';

/** Why `v` is not a node (or component, per `what`) name, or null. */
function simpleNameProblem(v: unknown, what: string): string | null {
  if (typeof v !== 'string') return `must be a ${what} name (${NAME_RULE}), not ${show(v)}`;
  if (NODE_NAME_RE.test(v)) return null;
  if (v.length === 0) return `must be a ${what} name (${NAME_RULE}), not empty`;
  if (v.length > 100) return `must be a ${what} name (${NAME_RULE}), not ${v.length} characters`;
  const bad = [...v].find((c) => !/^[A-Za-z0-9_-]$/.test(c)) ?? '';
  return `must be a ${what} name (${NAME_RULE}); ${JSON.stringify(bad)} is not allowed`;
}

export function nodeNameProblem(v: unknown): string | null {
  return simpleNameProblem(v, 'node');
}

export function componentNameProblem(v: unknown): string | null {
  return simpleNameProblem(v, 'component');
}

const MEMBER_ID_RULE = `<node>/<component>, each ${NAME_RULE}`;

export function memberIdProblem(v: unknown): string | null {
  if (isMemberId(v)) return null;
  if (typeof v !== 'string') return `must be a member id (${MEMBER_ID_RULE}), not ${show(v)}`;
  const parts = v.split('/');
  if (parts.length !== 2) return `must be a member id (${MEMBER_ID_RULE}): exactly one "/"`;
  const [node, component] = parts as [string, string];
  const why = simpleNameProblem(node, 'node') !== null ? `the node ${show(node)}` : `the component ${show(component)}`;
  return `must be a member id (${MEMBER_ID_RULE}): ${why} is not`;
}

const GROUP_RULE = 'Type.instance, where each part must start with a letter or _ and use [A-Za-z0-9_-] (1..100 characters)';

export function groupNameProblem(v: unknown): string | null {
  if (isGroupName(v)) return null;
  if (typeof v !== 'string') return `must be a group name (${GROUP_RULE}), not ${show(v)}`;
  const parts = v.split('.');
  if (parts.length !== 2) return `must be a group name (${GROUP_RULE}): exactly one "."`;
  for (const [which, part] of [['type', parts[0]], ['instance', parts[1]]] as const) {
    if (part === undefined || GROUP_PART_RE.test(part)) continue;
    let why: string;
    if (part.length === 0) why = 'is empty';
    else if (part.length > 100) why = `is ${part.length} characters`;
    else if (!/^[A-Za-z_]/.test(part)) why = `starts with ${JSON.stringify([...part][0])}`;
    else why = `contains ${JSON.stringify([...part].find((c) => !/^[A-Za-z0-9_-]$/.test(c)))}`;
    return `must be a group name (${GROUP_RULE}): the ${which} ${show(part)} ${why}`;
  }
  return `must be a group name (${GROUP_RULE})`;
}

const BALLOT_RULE = '<member id>#<incarnation>.<seq>, both decimal integers of at most 15 digits without leading zeros';

export function ballotIdProblem(v: unknown): string | null {
  if (isBallotId(v)) return null;
  if (typeof v !== 'string') return `must be a ballot id (${BALLOT_RULE}), not ${show(v)}`;
  const hash = v.lastIndexOf('#');
  if (hash < 0) return `must be a ballot id (${BALLOT_RULE}): no "#"`;
  const member = v.slice(0, hash);
  if (!isMemberId(member)) return `must be a ballot id (${BALLOT_RULE}): ${show(member)} is not a member id`;
  return `must be a ballot id (${BALLOT_RULE}): ${show(v.slice(hash + 1))} is not <incarnation>.<seq>`;
}

function check(problem: string | null, what: string, v: unknown): void {
  if (problem !== null) throw new NameError(`${what} ${problem}, got ${show(v)}`);
}

/** The member id of `component` on `node`. Throws {@link NameError} if either name is not of its form. */
export function memberIdOf(node: string, component: string): string {
  check(nodeNameProblem(node), 'node', node);
  check(componentNameProblem(component), 'component', component);
  return `${node}/${component}`;
}

/** The node part of a member id. Throws {@link NameError} if it is not a member id. */
export function nodeOf(memberId: string): string {
  check(memberIdProblem(memberId), 'member id', memberId);
  return memberId.slice(0, memberId.indexOf('/'));
}

/** The component part of a member id. Throws {@link NameError} if it is not a member id. */
export function componentOf(memberId: string): string {
  check(memberIdProblem(memberId), 'member id', memberId);
  return memberId.slice(memberId.indexOf('/') + 1);
}

/** The ballot id a member makes for its `seq`-th poll in `incarnation`. Throws {@link NameError} on a bad part. */
export function ballotIdOf(memberId: string, incarnation: number, seq: number): string {
  const id = `${memberId}#${incarnation}.${seq}`;
  check(ballotIdProblem(id), 'ballot id', id);
  return id;
}

export interface BallotIdParts {
  member: string;
  incarnation: number;
  seq: number;
}

/** The parts of a ballot id, or null if it is not one. */
export function parseBallotId(v: unknown): BallotIdParts | null {
  if (typeof v !== 'string') return null;
  const m = BALLOT_ID_RE.exec(v);
  if (m === null) return null;
  return { member: m[1] as string, incarnation: Number(m[2]), seq: Number(m[3]) };
}
