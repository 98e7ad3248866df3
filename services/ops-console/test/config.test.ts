// ops-console's configuration: defaults, the required secrets named when missing or too short
// (never echoed), a viewer token equal to the operator token refused, bad URLs named.
import t from 'tap';
import { ConfigError } from '@app/platform';
import { loadConfig } from '../src/config.js';

const base = {
  OPS_OPERATOR_TOKEN: 'operator-token-0123456789',
  OPS_SESSION_SECRET: 'session-secret-0123456789-0123456789',
};

function problemsOf(env: Record<string, string>): Record<string, string> {
  try {
    loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return Object.fromEntries(err.problems.map((p) => [p.variable, p.problem]));
  }
  return {};
}

void t.test('defaults', async (t) => {
  const c = loadConfig(base);
  t.equal(c.PORT, 3004);
  t.equal(c.OPS_SIGNUP_URL, 'http://127.0.0.1:3001');
  t.equal(c.OPS_PROFILE_URL, 'http://127.0.0.1:3002');
  t.equal(c.OPS_NOTIFICATION_URL, 'http://127.0.0.1:3003');
  t.equal(c.OPS_SESSION_TTL_SECONDS, 28_800);
  t.equal(c.OPS_COOKIE_SECURE, false);
  t.equal(c.ADMIN_TOKEN, undefined, 'no ADMIN_TOKEN: redrive disabled, the rest works');
  t.equal(c.OPS_VIEWER_TOKEN, undefined);
});

void t.test('every bad variable is named, no secret is shown', async (t) => {
  const problems = problemsOf({
    OPS_OPERATOR_TOKEN: 'short',
    OPS_SESSION_SECRET: 'also-too-short-secret',
    OPS_SIGNUP_URL: 'ftp://x',
    OPS_SESSION_TTL_SECONDS: '5',
    OPS_COOKIE_SECURE: 'maybe',
  });
  t.same(Object.keys(problems).sort(), [
    'OPS_COOKIE_SECURE',
    'OPS_OPERATOR_TOKEN',
    'OPS_SESSION_SECRET',
    'OPS_SESSION_TTL_SECONDS',
    'OPS_SIGNUP_URL',
  ]);
  t.match(problems.OPS_SESSION_SECRET, /at least 32 characters.*\(value hidden\)/);
  t.notMatch(JSON.stringify(problems), /also-too-short-secret|"short"/);
  t.match(problemsOf({}), {
    OPS_OPERATOR_TOKEN: /required, missing/,
    OPS_SESSION_SECRET: /required, missing/,
  });
});

void t.test('the viewer token must differ from the operator token', async (t) => {
  t.match(problemsOf({ ...base, OPS_VIEWER_TOKEN: base.OPS_OPERATOR_TOKEN }), {
    OPS_VIEWER_TOKEN: /must differ from OPS_OPERATOR_TOKEN/,
  });
  t.equal(
    loadConfig({ ...base, OPS_VIEWER_TOKEN: 'viewer-token-0123456789' }).OPS_VIEWER_TOKEN,
    'viewer-token-0123456789',
  );
});
