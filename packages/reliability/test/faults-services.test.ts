// Each service SIGKILLed and restarted, then SIGTERMed during load (graceful shutdown), at CI size:
// every 201 ends in exactly one email, nothing is cut off that arrived before a SIGTERM, and each
// service exits 0 within its grace period.
import t from 'tap';
import { scenarioTest } from './helper.js';

await scenarioTest(t, [
  'baseline',
  'kill -9 signup-service',
  'kill -9 profile-service',
  'kill -9 notification-service',
  'SIGTERM signup-service',
  'SIGTERM profile-service',
  'SIGTERM notification-service',
]);
