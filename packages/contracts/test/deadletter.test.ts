// The dead-letter vocabulary: the Dlq-* header names are a contract between the worker that writes
// them and every reader (a rename here is a visible change), and NATS subject matching behaves as
// the server's wildcards do for the filters of redrive and the ops console.
import t from 'tap';
import { DLQ_HEADERS, subjectMatches, type DlqHeader } from '../src/index.js';

void t.test('the Dlq-* header names', async (t) => {
  t.same(DLQ_HEADERS, {
    originalSubject: 'Dlq-Original-Subject',
    originalStream: 'Dlq-Original-Stream',
    originalSeq: 'Dlq-Original-Seq',
    originalTime: 'Dlq-Original-Time',
    consumer: 'Dlq-Consumer',
    deliveries: 'Dlq-Deliveries',
    reason: 'Dlq-Reason',
    advisory: 'Dlq-Advisory',
  });
  const reason: DlqHeader = DLQ_HEADERS.reason;
  t.equal(reason, 'Dlq-Reason', 'the type names the header values');
});

void t.test('NATS subject patterns', async (t) => {
  t.ok(subjectMatches('user.signed_up', 'user.signed_up'), 'a literal subject');
  t.ok(subjectMatches('t_1.user.signed_up', 't_1.user.signed_up'), 'a namespaced literal');
  t.notOk(subjectMatches('user.signed_up', 'user.profile_updated'), 'another literal');
  t.ok(subjectMatches('user.*', 'user.signed_up'), '* is one token');
  t.notOk(subjectMatches('user.*', 'user.a.b'), '* is not two tokens');
  t.notOk(subjectMatches('user.*', 'user'), '* is not zero tokens');
  t.ok(subjectMatches('*.user.*', 'ns.user.signed_up'), '* anywhere');
  t.ok(subjectMatches('user.>', 'user.a.b'), '> is the rest');
  t.ok(subjectMatches('ns.user.>', 'ns.user.signed_up'), '> after a prefix');
  t.notOk(subjectMatches('user.>', 'user'), '> needs at least one token');
  t.notOk(subjectMatches('user.signed_up.x', 'user.signed_up'), 'longer pattern');
});
