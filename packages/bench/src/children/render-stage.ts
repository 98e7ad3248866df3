// notify-throughput's CPU stage alone: notification-service's own parsing and validation of a
// user.signed_up message (lib/consumer.ts parseWelcomeEvent, on the bytes as they are published)
// and its rendering of the welcome email (lib/welcome.ts), in a loop, no I/O. Passes over the
// events until BENCH_MIN_MS have gone by (after one warm-up pass), and reports the rate over IPC.
import { performance } from 'node:perf_hooks';
import { signupEnvelope } from '../events.js';
import { need, notificationModules } from './notification-modules.js';

const count = Number(need('BENCH_COUNT'));
const minMs = Number(need('BENCH_MIN_MS'));
const m = await notificationModules();
const encoder = new TextEncoder();
const payloads = Array.from({ length: count }, (_, i) =>
  encoder.encode(JSON.stringify(signupEnvelope(i))),
);
const from = m.config.MAIL_FROM;

let sink = 0;
function pass(): void {
  for (const data of payloads) {
    const parsed = m.parseWelcomeEvent(data);
    if (!parsed.ok) throw new Error(`a bench event did not validate: ${parsed.reason}`);
    sink += m.renderWelcome(parsed.event, { from }).messageId.length;
  }
}
pass();
let events = 0;
const started = performance.now();
let elapsed = 0;
while (elapsed < minMs) {
  pass();
  events += count;
  elapsed = performance.now() - started;
}
process.send?.({ type: 'done', count: events, elapsedMs: elapsed, sink });
