import { Type } from '@sinclair/typebox';
import t from 'tap';
import {
  CommonEnv,
  ConfigError,
  DEFAULT_DATABASE_URL,
  DEFAULT_NATS_URL,
  DEFAULT_REDIS_URL,
  IntEnv,
  BoolEnv,
  PortEnv,
  loadConfig,
  natsServers,
} from '../src/index.js';

const Schema = Type.Object({
  ...CommonEnv,
  PORT: PortEnv(3002),
  PROFILE_CACHE_TTL_SECONDS: IntEnv(300, 1, 86_400),
  PROFILE_CACHE_ENABLED: BoolEnv(true),
  JWT_PUBLIC_KEY: Type.String({ minLength: 40 }),
  ADMIN_TOKEN: Type.String({ minLength: 16 }),
});

void t.test('applies defaults and converts strings', async (t) => {
  const config = loadConfig(Schema, {
    JWT_PUBLIC_KEY: 'k'.repeat(64),
    ADMIN_TOKEN: 'a'.repeat(32),
    PROFILE_CACHE_TTL_SECONDS: '60',
    PROFILE_CACHE_ENABLED: 'false',
    NATS_URL: 'nats://a:4222, nats://b:4222',
    NATS_STREAM_REPLICAS: '3',
    LOG_LEVEL: 'debug',
    UNRELATED: 'ignored',
  });
  t.same(config, {
    DATABASE_URL: DEFAULT_DATABASE_URL,
    REDIS_URL: DEFAULT_REDIS_URL,
    NATS_URL: 'nats://a:4222, nats://b:4222',
    PORT: 3002,
    HOST: '0.0.0.0',
    LOG_LEVEL: 'debug',
    NATS_NAMESPACE: '',
    NATS_STREAM_REPLICAS: 3,
    CORS_ORIGINS: '',
    PROFILE_CACHE_TTL_SECONDS: 60,
    PROFILE_CACHE_ENABLED: false,
    JWT_PUBLIC_KEY: 'k'.repeat(64),
    ADMIN_TOKEN: 'a'.repeat(32),
  });
  t.equal(typeof config.PORT, 'number');
  t.same(natsServers(config.NATS_URL), ['nats://a:4222', 'nats://b:4222']);
  t.same(natsServers(DEFAULT_NATS_URL), ['nats://127.0.0.1:4222']);
});

void t.test('an empty variable counts as unset', async (t) => {
  const config = loadConfig(Type.Object({ PORT: PortEnv(3001), HOST: CommonEnv.HOST }), {
    PORT: '',
    HOST: '',
  });
  t.same(config, { PORT: 3001, HOST: '0.0.0.0' });
});

void t.test('names every bad or missing variable, one per line', async (t) => {
  const secret = 'hunter2'; // too short for ADMIN_TOKEN
  let error: unknown;
  try {
    loadConfig(Schema, {
      PORT: 'abc',
      LOG_LEVEL: 'loud',
      NATS_STREAM_REPLICAS: '9',
      PROFILE_CACHE_ENABLED: 'maybe',
      DATABASE_URL: 'mysql://root:pw@db/app',
      ADMIN_TOKEN: secret,
    });
  } catch (err) {
    error = err;
  }
  t.type(error, ConfigError);
  const message = (error as ConfigError).message;
  const lines = message.split('\n');
  t.equal(lines[0], 'Invalid configuration:');
  t.ok(
    lines.includes('  PORT: expected integer 0..65535 (0 picks a free port), got "abc"'),
    message,
  );
  t.match(
    message,
    /\n {2}LOG_LEVEL: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "loud"/,
  );
  t.match(message, /\n {2}NATS_STREAM_REPLICAS: expected integer 1\.\.5, got "9"/);
  t.match(message, /\n {2}PROFILE_CACHE_ENABLED: expected boolean \(true or false\), got "maybe"/);
  t.match(message, /\n {2}JWT_PUBLIC_KEY: required, missing/);
  // The secret is too short: the message says so without printing it.
  t.match(message, /\n {2}ADMIN_TOKEN: expected string of at least 16, got \(value hidden\)/);
  t.notMatch(message, secret);
  // A password inside a URL is not printed either.
  t.match(
    message,
    /DATABASE_URL: expected a postgresql:\/\/ URL, got "mysql:\/\/root:\*\*\*@db\/app"/,
  );
  t.notMatch(message, ':pw@');
  t.equal(lines.length, 8, 'one line per bad variable');
  t.same((error as ConfigError).problems.map((p) => p.variable).sort(), [
    'ADMIN_TOKEN',
    'DATABASE_URL',
    'JWT_PUBLIC_KEY',
    'LOG_LEVEL',
    'NATS_STREAM_REPLICAS',
    'PORT',
    'PROFILE_CACHE_ENABLED',
  ]);
});

void t.test('rejects a malformed NATS_URL and namespace', async (t) => {
  t.throws(
    () => loadConfig(Type.Object({ NATS_URL: CommonEnv.NATS_URL }), { NATS_URL: 'http://x' }),
    /NATS_URL: expected comma-separated NATS server URLs/,
  );
  t.throws(
    () =>
      loadConfig(Type.Object({ NATS_NAMESPACE: CommonEnv.NATS_NAMESPACE }), {
        NATS_NAMESPACE: 'Bad-Name',
      }),
    /NATS_NAMESPACE: expected empty, or lowercase/,
  );
});
