import t from 'tap';
import {
  BALLOT_ID_RE,
  MAX_BALLOT_ID_LENGTH,
  NameError,
  ballotIdOf,
  ballotIdProblem,
  componentOf,
  componentNameProblem,
  groupNameProblem,
  isBallotId,
  isComponentName,
  isGroupName,
  isMemberId,
  isNodeName,
  memberIdOf,
  memberIdProblem,
  nodeNameProblem,
  nodeOf,
  parseBallotId,
} from '../../agent/core/names.js';

const N100 = 'n'.repeat(100);

t.test('node and component names', async (t) => {
  for (const good of ['a', 'node1', 'Node_1-b', '-', '_', '0', N100]) {
    t.ok(isNodeName(good), `node ${good}`);
    t.ok(isComponentName(good), `component ${good}`);
    t.equal(nodeNameProblem(good), null);
    t.equal(componentNameProblem(good), null);
  }
  for (const bad of ['', 'a b', 'a/b', 'a.b', 'ñ', `${N100}x`, 'a#b', 'a\n']) {
    t.notOk(isNodeName(bad), `node ${JSON.stringify(bad)}`);
    t.type(nodeNameProblem(bad), 'string');
  }
  for (const notString of [undefined, null, 1, {}]) t.notOk(isNodeName(notString));
  t.match(nodeNameProblem('a b'), '" " is not allowed');
  t.match(nodeNameProblem(''), 'not empty');
  t.match(nodeNameProblem(`${N100}x`), '101 characters');
  t.match(componentNameProblem(3), 'must be a component name');
});

t.test('member ids', async (t) => {
  for (const good of ['a/b', 'node1/Controller', `${N100}/${N100}`, '-/_']) t.ok(isMemberId(good), good);
  for (const bad of ['', 'a', '/b', 'a/', 'a/b/c', '#zB', 'a b/c', `${N100}x/c`, 'a/b#1.1']) {
    t.notOk(isMemberId(bad), JSON.stringify(bad));
    t.type(memberIdProblem(bad), 'string', `${bad}: a problem`);
  }
  t.match(memberIdProblem('#zB'), 'exactly one "/"');
  t.match(memberIdProblem('a b/c'), 'the node "a b" is not');
  t.match(memberIdProblem('a/b c'), 'the component "b c" is not');
  t.equal(memberIdProblem('a/b'), null);
});

t.test('group names', async (t) => {
  for (const good of ['Sensors.north', '_a.b-c_9', 'A.b', `${'A'.repeat(100)}.${'b'.repeat(100)}`, 'Sensors.x1']) {
    t.ok(isGroupName(good), good);
    t.equal(groupNameProblem(good), null);
  }
  for (const bad of ['', 'pumps', 'a.b.c', '.b', 'a.', 'Sensors.1x', '1x.a', '-a.b', 'a b.c', `A.${'b'.repeat(101)}`]) {
    t.notOk(isGroupName(bad), JSON.stringify(bad));
    t.type(groupNameProblem(bad), 'string');
  }
  // The old message listed characters that `1x` satisfies; the new one says what is wrong.
  const why = groupNameProblem('Sensors.1x') ?? '';
  t.match(why, 'each part must start with a letter or _ and use [A-Za-z0-9_-]');
  t.match(why, 'the instance "1x" starts with "1"');
  t.match(groupNameProblem('pumps'), 'exactly one "."');
  t.match(groupNameProblem('a.b c'), 'the instance "b c" contains " "');
  t.match(groupNameProblem('.b'), 'the type "" is empty');
  t.match(groupNameProblem(`A.${'b'.repeat(101)}`), 'is 101 characters');
});

t.test('ballot ids', async (t) => {
  for (const good of ['a/b#0.0', 'node1/Controller#1717000000000.12', `${N100}/${N100}#281474976710656.999999999999999`]) {
    t.ok(isBallotId(good), good);
    t.equal(ballotIdProblem(good), null);
    t.ok(good.length <= MAX_BALLOT_ID_LENGTH);
  }
  for (const bad of ['', 'b-1', 'a/b', 'a/b#', 'a/b#1', 'a/b#1.', 'a/b#.1', 'a/b#01.1', 'a/b#1.01', 'a/b#1.1.1', 'a#1.1', 'a/b#-1.1', 'a/b#1e3.1', 'a/b#1234567890123456.1']) {
    t.notOk(isBallotId(bad), JSON.stringify(bad));
    t.type(ballotIdProblem(bad), 'string');
  }
  t.match(ballotIdProblem('b-1'), 'no "#"');
  t.match(ballotIdProblem('a#1.1'), '"a" is not a member id');
  t.match(ballotIdProblem('a/b#1'), '"1" is not <incarnation>.<seq>');
  t.same(parseBallotId('node1/Controller#17.3'), { member: 'node1/Controller', incarnation: 17, seq: 3 });
  t.equal(parseBallotId('b-1'), null);
  t.equal(parseBallotId(5), null);
  t.ok(BALLOT_ID_RE.test('a/b#1.2'));
});

t.test('building and taking apart', async (t) => {
  t.equal(memberIdOf('node1', 'Controller'), 'node1/Controller');
  t.throws(() => memberIdOf('node 1', 'Controller'), NameError);
  t.throws(() => memberIdOf('node1', 'a/b'), { name: 'NameError', message: /^component must be a component name/ });
  t.equal(nodeOf('node1/Controller'), 'node1');
  t.equal(componentOf('node1/Controller'), 'Controller');
  t.throws(() => nodeOf('#zB'), { name: 'NameError', message: /^member id must be a member id .*got "#zB"$/ });
  t.equal(ballotIdOf('a/b', 1_717_000_000_000, 4), 'a/b#1717000000000.4');
  t.throws(() => ballotIdOf('a/b', 1.5, 1), NameError);
  t.throws(() => ballotIdOf('ab', 1, 1), NameError);
});
