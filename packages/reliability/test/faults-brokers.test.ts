// The brokers fail under load, at CI size: nats-server restarted, Redis stopped, Postgres cut at
// the proxy, SMTP answering 4xx. Every 201 still ends in exactly one email or one dead letter, and
// the only 5xx allowed is a 503 problem while Postgres is unreachable.
import t from 'tap';
import { scenarioTest } from './helper.js';

await scenarioTest(t, ['restart nats-server', 'stop redis', 'cut postgres', 'smtp 4xx']);
