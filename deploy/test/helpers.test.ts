// The readers behind the deploy checks, on inputs that must fail: a check that cannot fail
// proves nothing about the real files.
import t from 'tap';
import {
  copyInstructions,
  exportedByCommand,
  isPinnedBase,
  isPinnedImage,
  parseDockerfile,
  loopbackDefaults,
  parsePortsTable,
  requiredVariables,
  validateWithKubernetesModels,
  variablesToProvide,
  type K8sObject,
} from '../src/index.js';

void t.test('kubernetes-models rejects an invalid Deployment and skips unknown CRDs', async (t) => {
  const bad = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'x' },
    spec: {
      selector: {},
      template: {
        spec: { containers: [{ name: 'a', image: 'a:1', ports: [{ containerPort: 'http' }] }] },
      },
    },
  } as unknown as K8sObject;
  await t.rejects(validateWithKubernetesModels(bad), /Deployment\/x is invalid: .*containerPort/);
  const crd = { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'y' } };
  t.equal(await validateWithKubernetesModels(crd), false);
});

void t.test('image pinning', async (t) => {
  t.ok(isPinnedImage('registry.example.com:5000/a/b:0.1.0'));
  t.ok(isPinnedImage('nats@sha256:abc'));
  t.notOk(isPinnedImage('registry.example.com:5000/a/b'), 'a registry port is not a tag');
  t.notOk(isPinnedImage('nats:latest'));
  t.notOk(isPinnedImage('nats'));
  t.ok(isPinnedBase('node:22.20.0-bookworm-slim'));
  t.notOk(isPinnedBase('node:lts-slim'), 'a tag without a version moves');
  t.notOk(isPinnedBase('node'));
});

void t.test('Dockerfile parsing', async (t) => {
  const parsed = parseDockerfile(
    [
      'ARG BASE=node:22.1.0-bookworm-slim',
      'FROM ${BASE} AS one',
      '# a comment',
      'COPY --chown=1000:1000 a.json \\',
      '     b.json ./',
      'FROM one AS two',
      'COPY --from=one ["/x", "/y"]',
    ].join('\n'),
  );
  t.equal(parsed.stages[0]?.image, 'node:22.1.0-bookworm-slim', 'global ARG defaults substituted');
  t.same(copyInstructions(parsed.stages[0]!), [
    { from: undefined, sources: ['a.json', 'b.json'], destination: './', line: 4 },
  ]);
  t.same(copyInstructions(parsed.stages[1]!)[0]?.from, 'one');
  t.throws(() => parseDockerfile('RUN x\nFROM y'), /RUN before FROM/);
});

void t.test('README ports table, schema-required variables, loopback defaults', async (t) => {
  const md =
    '| service | HTTP port |\n|---|---|\n| a-service | 3001 |\n| `b` (admin) | 3002 |\n\nafter';
  t.same(
    [...parsePortsTable(md)],
    [
      ['a-service', 3001],
      ['b', 3002],
    ],
  );
  t.equal(parsePortsTable('no table').size, 0);
  const optional = Symbol.for('TypeBox.Optional');
  t.same(
    requiredVariables({
      properties: { A: {}, B: { default: 1 }, C: { [optional]: 'Optional' } },
    }),
    ['A'],
  );
  const urls = {
    properties: {
      A_URL: { default: 'http://127.0.0.1:3001' },
      B_URL: { default: 'nats://user:pw@localhost:4222' },
      C_URL: { default: 'http://[::1]/x' },
      D_URL: { default: 'http://signup-service:3001' },
      E_URL: { default: 'http://127.0.0.1.example.com/' },
      F: { default: 3 },
      REQUIRED: {},
    },
  };
  t.same(loopbackDefaults(urls), ['A_URL', 'B_URL', 'C_URL'], 'defaults on this machine only');
  t.same(variablesToProvide(urls), ['A_URL', 'B_URL', 'C_URL', 'REQUIRED']);
  t.same(exportedByCommand({ command: ['sh', '-c', 'export A="$(cat a)" B_C="x" && exec node'] }), [
    'A',
    'B_C',
  ]);
});
