// Every scenario `pnpm bench` knows, in the order it runs them and the table lists them.
import type { Scenario } from '../harness.js';
import { notifyBacklogMemory } from './notify-backlog-memory.js';
import { notifyThroughput } from './notify-throughput.js';
import { profileRead } from './profile-read.js';
import { profileStampede } from './profile-stampede.js';
import { requestCostsScenario } from './request-costs.js';
import { scaleScenario } from './scale.js';
import { signupSlowSmtp } from './signup-slow-smtp.js';
import { signupToEvent } from './signup-to-event.js';
import { tracingOverhead } from './tracing-overhead.js';

export const scenarios: readonly Scenario[] = [
  profileRead,
  requestCostsScenario,
  tracingOverhead,
  profileStampede,
  signupToEvent,
  signupSlowSmtp,
  notifyThroughput,
  notifyBacklogMemory,
  scaleScenario,
];
