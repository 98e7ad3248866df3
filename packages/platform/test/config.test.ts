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
  createServiceApp,
  loadConfig,
  natsServers,
  trustProxyAddresses,
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
    TRUST_PROXY: '',
    SHUTDOWN_DRAIN_MS: 0,
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

void t.test('TRUST_PROXY: addresses and CIDR ranges, each entry checked', async (t) => {
  const Env = Type.Object({ TRUST_PROXY: CommonEnv.TRUST_PROXY, PORT: PortEnv(3001) });
  t.equal(loadConfig(Env, {}).TRUST_PROXY, '', 'empty by default');
  t.same(trustProxyAddresses(''), [], 'empty: trust nothing');
  const value = loadConfig(Env, { TRUST_PROXY: '10.0.0.5, 10.1.0.0/16,fd00::1,fd00::/8' });
  t.same(trustProxyAddresses(value.TRUST_PROXY), [
    '10.0.0.5',
    '10.1.0.0/16',
    'fd00::1',
    'fd00::/8',
  ]);

  for (const bad of [
    'gateway',
    '10.0.0.256',
    '10.0.0.0/33',
    'fd00::/129',
    '10.0.0.5,',
    '10.0.0.5;10.0.0.6',
    '10.0.0.0/8/8',
    '*',
    'fe80::1%eth0',
  ]) {
    let error: unknown;
    try {
      loadConfig(Env, { TRUST_PROXY: bad, PORT: 'x' });
    } catch (err) {
      error = err;
    }
    t.type(error, ConfigError, bad);
    const problems = (error as ConfigError).problems;
    t.same(
      problems.map((p) => p.variable).sort(),
      ['PORT', 'TRUST_PROXY'],
      `"${bad}": TRUST_PROXY is named, with the other bad variables`,
    );
    t.match(
      problems.find((p) => p.variable === 'TRUST_PROXY')?.problem,
      /IP addresses or CIDR ranges/,
    );
  }
  // The parser names the entries that are wrong, for a value that never went through loadConfig.
  t.throws(() => trustProxyAddresses('10.0.0.5, nope, 10.0.0.0/99'), {
    name: 'ConfigError',
    message: /TRUST_PROXY: .*got "nope", "10\.0\.0\.0\/99"/,
  });
});

void t.test('TRUST_PROXY decides whose X-Forwarded-For becomes request.ip', async (t) => {
  const ipSeen = async (
    trustProxyVar: string,
    serviceBoolean: boolean | undefined,
    remoteAddress: string,
  ) => {
    const app = createServiceApp({
      name: 'trust-test',
      config: { LOG_LEVEL: 'silent', CORS_ORIGINS: '', TRUST_PROXY: trustProxyVar },
      deps: { logger: false },
      readiness: {},
      ...(serviceBoolean === undefined ? {} : { trustProxy: serviceBoolean }),
    });
    app.get('/ip', async (request) => ({ ip: request.ip }));
    t.teardown(() => app.close());
    const res = await app.inject({
      url: '/ip',
      remoteAddress,
      headers: { 'x-forwarded-for': '203.0.113.9, 198.51.100.7' },
    });
    return res.json<{ ip: string }>().ip;
  };
  t.equal(await ipSeen('', undefined, '10.0.0.5'), '10.0.0.5', 'empty: the peer, always');
  t.equal(await ipSeen('', false, '10.0.0.5'), '10.0.0.5', "the service's false: the peer");
  t.equal(
    await ipSeen('10.0.0.5', undefined, '10.0.0.5'),
    '198.51.100.7',
    'the gateway: the client',
  );
  t.equal(await ipSeen('10.0.0.0/24', false, '10.0.0.5'), '198.51.100.7', 'a range, over false');
  t.equal(await ipSeen('10.0.0.5', undefined, '10.0.0.6'), '10.0.0.6', 'another peer: itself');
  t.equal(
    await ipSeen('10.0.0.5', true, '10.0.0.6'),
    '10.0.0.6',
    "TRUST_PROXY narrows the service's true to the listed addresses",
  );
  t.equal(
    await ipSeen('', true, '10.0.0.6'),
    '203.0.113.9',
    "without TRUST_PROXY the service's true trusts any peer, as before",
  );
  t.throws(
    () =>
      createServiceApp({
        name: 'trust-test',
        config: { LOG_LEVEL: 'silent', CORS_ORIGINS: '', TRUST_PROXY: 'not-an-ip' },
        deps: { logger: false },
        readiness: {},
      }),
    /TRUST_PROXY/,
  );
});
