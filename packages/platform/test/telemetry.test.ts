// Tracing's configuration, as a service's process meets it: off unless an OTLP endpoint is set,
// every bad OTEL_* setting named at start-up, and spans exported in http/protobuf (the SDK's
// default) and http/json to a real OTLP/HTTP receiver.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startOtlpReceiver } from '@app/testing';
import t from 'tap';
import { startTelemetry, telemetryConfigErrors, tracingConfigured } from '../src/telemetry.js';

const run = promisify(execFile);
const PROBE = fileURLToPath(new URL('./fixtures/telemetry-probe.ts', import.meta.url));

async function probe(env: Record<string, string>): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import=tsx', PROBE], {
    env: { PATH: process.env.PATH ?? '', ...env },
    timeout: 60_000,
  });
  return stdout;
}

void t.test('off unless an endpoint is configured', async (t) => {
  t.equal(tracingConfigured({}), false, 'no endpoint: off');
  t.equal(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), true);
  t.equal(
    tracingConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }),
    true,
  );
  t.equal(
    tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }),
    false,
    'OTEL_SDK_DISABLED wins',
  );
  t.equal(
    tracingConfigured({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
      OTEL_TRACES_EXPORTER: 'none',
    }),
    false,
    'OTEL_TRACES_EXPORTER=none wins',
  );
  const off = await startTelemetry('demo', {});
  t.equal(off.enabled, false, 'startTelemetry with nothing set starts nothing');
  t.equal(await probe({}), 'enabled=false\n', 'a process without the variables traces nothing');
});

void t.test('every bad setting is named', async (t) => {
  const env = {
    OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318',
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/xml',
    OTEL_TRACES_SAMPLER: 'sometimes',
  };
  const errors = telemetryConfigErrors(env);
  t.equal(errors.length, 3);
  t.match(errors.join('\n'), /OTEL_EXPORTER_OTLP_ENDPOINT: not an http\(s\) URL/);
  t.match(errors.join('\n'), /OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: http\/xml is not one of/);
  t.match(errors.join('\n'), /OTEL_TRACES_SAMPLER: sometimes is not one of/);
  t.same(
    telemetryConfigErrors({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }),
    ['OTEL_TRACES_SAMPLER_ARG: 2 is not a ratio between 0 and 1'],
  );
  await t.rejects(startTelemetry('demo', env), /invalid tracing configuration:[\s\S]*SAMPLER/);
});

for (const [protocol, contentType] of [
  ['http/protobuf', 'application/x-protobuf'],
  ['http/json', 'application/json'],
] as const) {
  void t.test(`spans reach an OTLP/HTTP receiver in ${protocol}`, async (t) => {
    const receiver = await startOtlpReceiver();
    t.teardown(() => receiver.close());
    const out = await probe({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: protocol,
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=probe',
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
    });
    t.equal(out, 'enabled=true\n');
    if (protocol === 'http/json') {
      const span = receiver.spans.find((s) => s.name === 'probe span');
      t.equal(span?.service, 'probe-service', 'named by the service');
      t.equal(span?.attributes['probe.run'], 'yes');
    } else {
      t.equal(receiver.raw.length, 1, 'one export request');
      const body = receiver.raw[0]?.body.toString('latin1') ?? '';
      t.equal(receiver.raw[0]?.contentType, contentType);
      for (const text of ['probe-service', 'probe span', 'deployment.environment.name']) {
        t.ok(body.includes(text), `the protobuf request carries "${text}"`);
      }
    }
  });
}
