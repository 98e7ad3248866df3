// The cross-cutting helpers: redactUrl hides every credential it may meet (database, Redis and NATS
// URLs, server lists, error messages) and keeps the rest readable; isValidTraceparent accepts W3C
// traceparents and refuses the shapes the spec says to ignore.
import t from 'tap';
import { isValidTraceparent, redactUrl, silentLogger, type Logger } from '../src/index.js';

void t.test('redactUrl hides passwords and keeps user, host and path', async (t) => {
  t.equal(
    redactUrl('postgresql://app:s3cret@db.internal:5432/app?sslmode=require'),
    'postgresql://app:***@db.internal:5432/app?sslmode=require',
  );
  t.equal(redactUrl('redis://:s3cret@cache:6379/0'), 'redis://:***@cache:6379/0');
  t.equal(redactUrl('rediss://default:s3cret@cache:6380'), 'rediss://default:***@cache:6380');
});

void t.test('redactUrl hides a lone userinfo where it is a secret', async (t) => {
  t.equal(redactUrl('nats://t0ken@nats:4222'), 'nats://***@nats:4222', 'NATS token');
  t.equal(redactUrl('redis://s3cret@cache:6379'), 'redis://***@cache:6379', 'ioredis password');
  t.equal(
    redactUrl('postgresql://postgres@127.0.0.1:5432/app'),
    'postgresql://postgres@127.0.0.1:5432/app',
    'a Postgres user name stays',
  );
});

void t.test('redactUrl works inside longer strings', async (t) => {
  t.equal(
    redactUrl('nats://a:pw1@n1:4222, nats://b:pw2@n2:4222'),
    'nats://a:***@n1:4222, nats://b:***@n2:4222',
    'every server of a list',
  );
  t.equal(
    redactUrl('Postgres at postgres://u:p@ss@db/app is unreachable'),
    'Postgres at postgres://u:***@db/app is unreachable',
    'an unencoded @ in the password',
  );
  t.equal(redactUrl('redis://cache:6379'), 'redis://cache:6379', 'nothing to hide');
  t.equal(redactUrl('not a url: a:b@c'), 'not a url: a:b@c', 'no scheme, no change');
  t.notMatch(redactUrl('postgresql://u:pa%40ss%3Aword@h/db'), /pa|word/, 'encoded characters');
});

void t.test('isValidTraceparent', async (t) => {
  t.ok(isValidTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'));
  t.notOk(isValidTraceparent(undefined));
  t.notOk(isValidTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7'), 'no flags');
  t.notOk(isValidTraceparent('00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01'), 'upper');
  t.notOk(isValidTraceparent('ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'), 'ff');
  t.notOk(isValidTraceparent(`00-${'0'.repeat(32)}-00f067aa0ba902b7-01`), 'zero trace id');
  t.notOk(
    isValidTraceparent(`00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`),
    'zero parent',
  );
});

void t.test('silentLogger is a Logger', async (t) => {
  const log: Logger = silentLogger;
  t.doesNotThrow(() => log.info({ a: 1 }, 'dropped'));
});
