// What a dependency failure looks like to a client: 503 DEPENDENCY_UNAVAILABLE with Retry-After for
// every shape node-postgres, Prisma and @prisma/adapter-pg throw when Postgres is unreachable, 400
// for text Postgres refuses, 500 for anything else. Shapes copied from real failures; the last
// test cuts a real Postgres connection at a TCP proxy under Prisma.
import { startTcpProxy } from '@app/testing';
import t, { type Test } from 'tap';
import {
  createApp,
  isDependencyUnavailable,
  isUnstorableText,
  prismaPlugin,
} from '../src/index.js';
import { logSink } from './helpers.js';

const errno = (code: string, syscall = 'read') =>
  Object.assign(new Error(`${syscall} ${code}`), { code, errno: -104, syscall });
const pgError = (code: string, message: string) =>
  Object.assign(new Error(message), { name: 'error', code, severity: 'FATAL' });
const prismaKnown = (code: string, cause: Record<string, unknown>) =>
  Object.assign(new Error(`Invalid prisma call`), {
    name: 'PrismaClientKnownRequestError',
    code,
    clientVersion: '7.10.1',
    meta: {
      driverAdapterError: Object.assign(new Error('DriverAdapterError'), {
        name: 'DriverAdapterError',
        cause,
      }),
    },
  });

const unavailable: Array<[string, unknown]> = [
  ['pg: read ECONNRESET', errno('ECONNRESET')],
  ['pg: connect ECONNREFUSED', errno('ECONNREFUSED', 'connect')],
  ['pg: ETIMEDOUT', errno('ETIMEDOUT', 'connect')],
  ['pg: write EPIPE', errno('EPIPE', 'write')],
  ['pg: Connection terminated unexpectedly', new Error('Connection terminated unexpectedly')],
  ['pg: pool connect timeout', new Error('timeout exceeded when trying to connect')],
  ['pg: SQLSTATE 08006', pgError('08006', 'connection failure')],
  ['pg: SQLSTATE 57P01', pgError('57P01', 'terminating connection due to administrator command')],
  ['pg: SQLSTATE 57P03', pgError('57P03', 'the database system is starting up')],
  ['prisma P1001', Object.assign(new Error("Can't reach"), { code: 'P1001' })],
  ['prisma P1017', prismaKnown('P1017', { kind: 'ConnectionClosed' })],
  ['prisma P2010 wrapping ConnectionClosed', prismaKnown('P2010', { kind: 'ConnectionClosed' })],
  [
    'prisma P2010 wrapping DatabaseNotReachable',
    prismaKnown('P2010', { kind: 'DatabaseNotReachable' }),
  ],
  [
    'adapter postgres 57P01',
    prismaKnown('P2010', { kind: 'postgres', code: '57P01', originalCode: '57P01' }),
  ],
  [
    'PrismaClientInitializationError',
    Object.assign(new Error('init'), { name: 'PrismaClientInitializationError' }),
  ],
  ['wrapped in cause', new Error('signup failed', { cause: errno('ECONNRESET') })],
];
const unstorable: Array<[string, unknown]> = [
  ['pg: SQLSTATE 22021 (NUL)', pgError('22021', 'invalid byte sequence for encoding "UTF8": 0x00')],
  ['pg: SQLSTATE 22P05', pgError('22P05', 'unsupported Unicode escape sequence')],
  [
    'adapter: 22021 via Prisma',
    prismaKnown('P2010', { kind: 'postgres', code: '22021', originalCode: '22021' }),
  ],
];
const bugs: Array<[string, unknown]> = [
  ['TypeError', new TypeError('x is undefined')],
  ['pg: SQLSTATE 42P01', pgError('42P01', 'relation does not exist')],
  ['prisma P2021', prismaKnown('P2021', { kind: 'TableDoesNotExist' })],
  ['a string', 'boom'],
];

void t.test('classification', async (t) => {
  for (const [name, error] of unavailable) {
    t.ok(isDependencyUnavailable(error), `${name}: unavailable`);
    t.notOk(isUnstorableText(error), `${name}: not a text problem`);
  }
  for (const [name, error] of unstorable) {
    t.ok(isUnstorableText(error), `${name}: unstorable text`);
    t.notOk(isDependencyUnavailable(error), `${name}: not an outage`);
  }
  for (const [name, error] of bugs) {
    t.notOk(isDependencyUnavailable(error), `${name}: not an outage`);
    t.notOk(isUnstorableText(error), `${name}: not a text problem`);
  }
});

function appThrowing(t: Test, error: unknown) {
  const sink = logSink();
  const app = createApp({ name: 'demo', logStream: sink.stream });
  t.teardown(() => app.close());
  app.get('/x', async () => {
    throw error;
  });
  return { app, sink };
}

void t.test('an unavailable dependency answers 503 with Retry-After, logged at warn', async (t) => {
  for (const [name, error] of unavailable) {
    const { app, sink } = appThrowing(t, error);
    const res = await app.inject({ method: 'GET', url: '/x' });
    t.equal(res.statusCode, 503, name);
    t.equal(res.headers['retry-after'], '2', `${name}: Retry-After`);
    t.match(res.headers['content-type'], /^application\/problem\+json/);
    t.equal(res.headers['x-content-type-options'], 'nosniff');
    const body = res.json();
    t.match(body, {
      type: 'https://errors.demo.example/dependency-unavailable',
      status: 503,
      code: 'DEPENDENCY_UNAVAILABLE',
      retryAfterSeconds: 2,
    });
    t.notMatch(res.body, /at .+:\d+:\d+|node_modules|ECONN|prisma/i, `${name}: nothing internal`);
    const line = await sink.waitFor((l) => l.msg === 'dependency unavailable');
    t.equal(line.level, 'warn', `${name}: logged at warn`);
  }
});

void t.test('text Postgres refuses answers 400, anything else 500', async (t) => {
  for (const [name, error] of unstorable) {
    const { app } = appThrowing(t, error);
    const res = await app.inject({ method: 'GET', url: '/x' });
    t.equal(res.statusCode, 400, name);
    t.equal(res.json().code, 'UNSUPPORTED_TEXT');
  }
  for (const [name, error] of bugs) {
    const { app } = appThrowing(t, error);
    const res = await app.inject({ method: 'GET', url: '/x' });
    t.equal(res.statusCode, 500, name);
    t.equal(res.json().code, 'INTERNAL');
    t.notOk(res.headers['retry-after']);
  }
});

void t.test('Prisma over a Postgres connection cut at a proxy: 503, then 200 again', async (t) => {
  const proxy = await startTcpProxy({ targetHost: '127.0.0.1', targetPort: 5432 });
  t.teardown(() => proxy.close());
  const app = createApp({ name: 'demo', logger: false });
  t.teardown(() => app.close());
  await app.register(prismaPlugin, {
    databaseUrl: proxy.urlFor('postgresql://postgres@127.0.0.1:5432/postgres'),
    poolMax: 2,
  });
  app.get('/one', async () => {
    const rows = await app.prisma.$queryRaw<Array<{ one: number }>>`SELECT 1 AS one`;
    return { one: rows[0]?.one };
  });
  t.equal((await app.inject({ method: 'GET', url: '/one' })).statusCode, 200);

  const inFlight = app.inject({ method: 'GET', url: '/one' });
  proxy.cut();
  const during = [await inFlight, await app.inject({ method: 'GET', url: '/one' })];
  for (const res of during) {
    // The first may have finished before the cut; whatever failed must be a 503.
    if (res.statusCode === 200) continue;
    t.equal(res.statusCode, 503);
    t.equal(res.json().code, 'DEPENDENCY_UNAVAILABLE');
  }
  t.equal(during[1]!.statusCode, 503, 'a query while cut is a 503');
  proxy.restore();
  t.equal((await app.inject({ method: 'GET', url: '/one' })).statusCode, 200, 'back after restore');
});
