// The redrive pages: a dry run's result (exactly what would move, from notification-service's own
// dry run) with the confirmation form that redrives exactly that list at a chosen rate; a redrive
// job with live progress; and the audit trail of jobs and dry runs (who, when, what, result).
import { html, type SafeHtml } from '../lib/html.js';
import { formatInt, formatTime } from '../lib/format.js';
import { formatSeqs } from '../lib/signature.js';
import type { AdminFilter, DryRun, RedriveJob } from '../lib/admin-client.js';
import { isFinished } from '../lib/admin-client.js';
import type { AuditDryRun, AuditJob, AuditMove } from '../lib/audit.js';
import { csrfField, isOperator, page, type PageContext } from './layout.js';
import type { LiveFields } from './overview.js';

function time(iso: string | null): SafeHtml {
  return iso ? html`<time datetime="${iso}">${formatTime(iso)}</time>` : html`—`;
}

/** A filter in words: `reason contains "smtp", 3 chosen dead letters`. */
export function describeFilter(filter: AdminFilter): string {
  const parts: string[] = [];
  if (filter.subject) parts.push(`subject ${filter.subject}`);
  if (filter.reason) parts.push(`reason contains "${filter.reason}"`);
  if (filter.since) parts.push(`from ${formatTime(filter.since)}`);
  if (filter.until) parts.push(`until ${formatTime(filter.until)}`);
  if (filter.seqs) {
    parts.push(
      filter.seqs.length <= 10
        ? `dead letters ${formatSeqs(filter.seqs)}`
        : `${filter.seqs.length} chosen dead letters`,
    );
  }
  return parts.length ? parts.join(', ') : 'every dead letter';
}

export function dryRunPage(
  ctx: PageContext,
  input: { dryRun: DryRun; filter: AdminFilter; rate: number; what: string },
): string {
  const { dryRun, filter } = input;
  const movable = dryRun.items.filter((i) => !i.skipped);
  const seqs = movable.map((i) => i.seq);
  const body = html`<p role="status">
      notification-service's dry run of <strong>${input.what}</strong>:
      ${formatInt(dryRun.selected)} dead letters selected,
      <strong data-would-move>${formatInt(movable.length)}</strong> would move. Nothing has moved;
      the dry run is on record (batch <code>${dryRun.batchId}</code>).
    </p>
    <div class="table-wrap">
      <table class="dry-run">
        <caption class="sr-only">
          The dead letters a redrive would move
        </caption>
        <thead>
          <tr>
            <th scope="col">Seq</th>
            <th scope="col">Original subject</th>
            <th scope="col">Original seq</th>
            <th scope="col">Reason</th>
            <th scope="col">New message id</th>
            <th scope="col">Note</th>
          </tr>
        </thead>
        <tbody>
          ${dryRun.items.map(
            (i) =>
              html`<tr data-seq="${i.seq}">
                <td><a href="/deadletters/${i.seq}">${i.seq}</a></td>
                <td>${i.originalSubject ?? '—'}</td>
                <td class="num">${i.originalSeq ?? '—'}</td>
                <td class="reason">${i.reason ?? '—'}</td>
                <td class="wrap"><code>${i.newMsgId}</code></td>
                <td>${i.skipped ? html`skipped: ${i.skipped}` : 'would move'}</td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
    ${
      movable.length === 0
        ? html`<p>Nothing would move. <a href="/deadletters">Back to the dead letters</a></p>`
        : isOperator(ctx)
          ? html`<form method="post" action="/redrive" class="confirm">
              ${csrfField(ctx)}
              <input type="hidden" name="seqs" value="${formatSeqs(seqs)}" />
              ${(['subject', 'reason', 'since', 'until'] as const).map((k) =>
                filter[k] ? html`<input type="hidden" name="${k}" value="${filter[k]}" />` : '',
              )}
              <div>
                <label for="rate">Rate (messages per second)</label>
                <input
                  id="rate"
                  name="rate"
                  type="number"
                  min="1"
                  max="10000"
                  step="1"
                  value="${input.rate}"
                  required
                  inputmode="numeric"
                />
              </div>
              <p>
                The redrive moves exactly these ${formatInt(movable.length)} dead letters back to
                their original subjects, as a background job you can follow and cancel.
              </p>
              <div class="buttons">
                <button type="submit" class="primary">
                  Redrive ${formatInt(movable.length)} dead letters
                </button>
                <a href="/deadletters">Cancel</a>
              </div>
            </form>`
          : ''
    }`;
  return page(ctx, { title: `Dry run: ${formatInt(movable.length)} would move`, body });
}

export function jobFields(job: RedriveJob): LiveFields & { final: boolean } {
  const done = job.moved + job.skipped + job.failed;
  return {
    fields: {
      'job.status':
        job.status + (job.cancelRequested && !isFinished(job.status) ? ' (cancelling)' : ''),
      'job.progress':
        job.total > 0
          ? `${formatInt(done)} of ${formatInt(job.total)} done`
          : 'counting what to move',
      'job.progressValue': String(done),
      'job.progressMax': String(Math.max(job.total, 1)),
      'job.total': formatInt(job.total),
      'job.moved': formatInt(job.moved),
      'job.skipped': formatInt(job.skipped),
      'job.failed': formatInt(job.failed),
      'job.started': formatTime(job.startedAt),
      'job.finished': formatTime(job.finishedAt),
      'job.lastError': job.lastError ?? '—',
    },
    states: { 'job.status': job.status },
    final: isFinished(job.status),
  };
}

export function jobPage(
  ctx: PageContext,
  input: { job: RedriveJob; moves: AuditMove[]; refreshMs: number },
): string {
  const { job } = input;
  const live = jobFields(job);
  const f = (key: string) => html`<span data-field="${key}">${live.fields[key] ?? ''}</span>`;
  const body = html`<section aria-labelledby="h-progress">
      <h2 id="h-progress">Progress</h2>
      <div class="progress" role="status" aria-live="polite">
        <p>
          Status:
          <strong
            class="badge"
            data-field="job.status"
            data-state-field="job.status"
            data-state="${job.status}"
            >${live.fields['job.status']}</strong
          >
        </p>
        <p>
          <progress
            id="job-progress"
            max="${live.fields['job.progressMax']}"
            value="${live.fields['job.progressValue']}"
            data-field="job.progressValue"
            data-max-field="job.progressMax"
            aria-label="Redrive progress"
          ></progress>
          ${f('job.progress')}
        </p>
      </div>
      <dl class="figures">
        <div>
          <dt>Selected</dt>
          <dd>${f('job.total')}</dd>
        </div>
        <div>
          <dt>Moved</dt>
          <dd>${f('job.moved')}</dd>
        </div>
        <div>
          <dt>Skipped</dt>
          <dd>${f('job.skipped')}</dd>
        </div>
        <div>
          <dt>Failed</dt>
          <dd>${f('job.failed')}</dd>
        </div>
      </dl>
      ${
        isOperator(ctx) && !live.final
          ? html`<form method="post" action="/redrives/${job.id}/cancel" data-hide-when-final>
              ${csrfField(ctx)}<button type="submit">Cancel this redrive</button>
            </form>`
          : ''
      }
    </section>
    <section aria-labelledby="h-job">
      <h2 id="h-job">What and who</h2>
      <dl class="facts">
        <div>
          <dt>Job</dt>
          <dd><code>${job.id}</code></dd>
        </div>
        <div>
          <dt>Who</dt>
          <dd>${job.actor}</dd>
        </div>
        <div>
          <dt>What</dt>
          <dd>${describeFilter(job.filter)}</dd>
        </div>
        <div>
          <dt>Rate</dt>
          <dd>${formatInt(job.rate)} per second</dd>
        </div>
        <div>
          <dt>Requested</dt>
          <dd>${time(job.createdAt)}</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>${f('job.started')}</dd>
        </div>
        <div>
          <dt>Finished</dt>
          <dd>${f('job.finished')}</dd>
        </div>
        <div>
          <dt>Last error</dt>
          <dd>${f('job.lastError')}</dd>
        </div>
      </dl>
      <p><a href="/redrives">The audit trail of every redrive</a></p>
    </section>
    <section aria-labelledby="h-moves">
      <h2 id="h-moves">Moved so far (when this page was loaded)</h2>
      ${
        input.moves.length === 0
          ? html`<p>None yet.</p>`
          : html`<div class="table-wrap">
              <table>
                <caption class="sr-only">
                  Dead letters this redrive moved
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Dead letter</th>
                    <th scope="col">Back on</th>
                    <th scope="col">New message id</th>
                    <th scope="col">Reason it had</th>
                    <th scope="col">When</th>
                  </tr>
                </thead>
                <tbody>
                  ${input.moves.map(
                    (m) =>
                      html`<tr>
                        <td class="num">${m.deadletterSeq}</td>
                        <td>${m.originalSubject}</td>
                        <td class="wrap"><code>${m.newMsgId}</code></td>
                        <td class="reason">${m.reason ?? '—'}</td>
                        <td>${time(m.at)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>`
      }
    </section>`;
  return page(ctx, {
    title: `Redrive ${job.id.slice(0, 8)}`,
    body,
    ...(live.final ? {} : { live: { url: `/api/redrives/${job.id}`, ms: input.refreshMs } }),
  });
}

export function auditPage(
  ctx: PageContext,
  input: { jobs: AuditJob[]; dryRuns: AuditDryRun[] },
): string {
  const body = html`<section aria-labelledby="h-jobs">
      <h2 id="h-jobs">Redrives</h2>
      ${
        input.jobs.length === 0
          ? html`<p>No redrive yet.</p>`
          : html`<div class="table-wrap">
              <table class="audit">
                <caption class="sr-only">
                  Every redrive job: who, when, what and the result
                </caption>
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Who</th>
                    <th scope="col">What</th>
                    <th scope="col">Rate</th>
                    <th scope="col">Result</th>
                  </tr>
                </thead>
                <tbody>
                  ${input.jobs.map(
                    (j) =>
                      html`<tr data-job="${j.id}">
                        <td><a href="/redrives/${j.id}">${formatTime(j.createdAt)}</a></td>
                        <td>${j.actor}</td>
                        <td>${describeFilter(j.filter)}</td>
                        <td class="num">${formatInt(j.rate)}/s</td>
                        <td>
                          <span class="badge" data-state="${j.status}">${j.status}</span>
                          ${formatInt(j.moved)} of ${formatInt(j.total)}
                          moved${j.skipped ? `, ${formatInt(j.skipped)} skipped` : ''}${j.failed ? `, ${formatInt(j.failed)} failed` : ''}${j.lastError ? html`<br /><span class="muted">${j.lastError}</span>` : ''}
                        </td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>`
      }
    </section>
    <section aria-labelledby="h-dry">
      <h2 id="h-dry">Dry runs</h2>
      ${
        input.dryRuns.length === 0
          ? html`<p>No dry run yet.</p>`
          : html`<div class="table-wrap">
              <table>
                <caption class="sr-only">
                  Recent dry runs: who, when, how many dead letters they listed
                </caption>
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Who</th>
                    <th scope="col">Listed</th>
                    <th scope="col">Batch</th>
                  </tr>
                </thead>
                <tbody>
                  ${input.dryRuns.map(
                    (d) =>
                      html`<tr>
                        <td>${formatTime(d.at)}</td>
                        <td>${d.actor}</td>
                        <td class="num">${formatInt(d.count)}</td>
                        <td class="wrap"><code>${d.batchId}</code></td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>`
      }
    </section>`;
  return page(ctx, { title: 'Redrives and audit trail', body });
}
