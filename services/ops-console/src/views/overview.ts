// The overview page and its live numbers: `overviewFields` turns an overview into the text of each
// number (keyed as the page's data-field attributes name them) and the state of each status, and
// the page renders from the very same map, so the JSON refresh and the first render agree.
import { html, type SafeHtml } from '../lib/html.js';
import {
  formatAgo,
  formatBytes,
  formatDuration,
  formatInt,
  formatPercent,
  formatSince,
  formatTime,
} from '../lib/format.js';
import type { Overview } from '../lib/overview.js';
import { page, type PageContext } from './layout.js';

export interface LiveFields {
  fields: Record<string, string>;
  states: Record<string, string>;
}

const READINESS: Record<string, string> = {
  ready: 'ready',
  not_ready: 'not ready',
  unreachable: 'unreachable',
};

const consumerKey = (c: { streamRole: string; name: string }) =>
  `consumer.${c.streamRole}.${c.name}`;

export function overviewFields(o: Overview, now = Date.parse(o.at)): LiveFields {
  const fields: Record<string, string> = { at: `Updated ${formatTime(o.at)}` };
  const states: Record<string, string> = {};
  for (const s of o.services) {
    fields[`svc.${s.name}.status`] = READINESS[s.status] ?? s.status;
    fields[`svc.${s.name}.checks`] =
      Object.entries(s.checks)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ') ||
      (s.detail ?? '—');
    states[`svc.${s.name}.status`] = s.status;
  }
  fields['nats.status'] = o.nats.ok ? '' : `JetStream could not be read: ${o.nats.error}`;
  for (const st of o.streams) {
    const k = `stream.${st.role}`;
    fields[`${k}.messages`] = st.exists ? formatInt(st.messages) : 'not provisioned';
    fields[`${k}.bytes`] = st.exists ? formatBytes(st.bytes) : '—';
    fields[`${k}.first`] = formatTime(st.firstTime);
    fields[`${k}.last`] = formatTime(st.lastTime);
    fields[`${k}.trend`] = st.trend.line;
    fields[`${k}.trendWords`] = st.trend.words;
  }
  for (const c of o.consumers) {
    const k = consumerKey(c);
    fields[`${k}.pending`] = formatInt(c.pending);
    fields[`${k}.ackPending`] = formatInt(c.ackPending);
    fields[`${k}.ackPendingValue`] = String(c.ackPending);
    fields[`${k}.maxAckPending`] = c.maxAckPending > 0 ? formatInt(c.maxAckPending) : 'no limit';
    fields[`${k}.redelivered`] = formatInt(c.redelivered);
    fields[`${k}.lastActive`] = formatAgo(c.lastActive, now);
    fields[`${k}.trend`] = c.trend.line;
    fields[`${k}.trendWords`] = c.trend.words;
    states[`${k}.ackPending`] =
      c.maxAckPending > 0 && c.ackPending >= c.maxAckPending ? 'full' : 'ok';
  }
  if (o.outbox.ok) {
    fields['outbox.status'] = '';
    for (const p of o.outbox.producers) {
      const k = `outbox.${p.producer}`;
      fields[`${k}.pending`] = formatInt(p.pending);
      fields[`${k}.oldest`] = p.pending > 0 ? formatDuration(p.oldestAgeSeconds) : '—';
      fields[`${k}.trend`] = p.trend.line;
      fields[`${k}.trendWords`] = p.trend.words;
    }
  } else fields['outbox.status'] = `The outbox could not be read: ${o.outbox.error}`;
  if (o.emails.ok) {
    const e = o.emails.value;
    fields['emails.status'] = '';
    fields['emails.sent'] = formatInt(e.sent.value);
    fields['emails.retried'] = formatInt(e.retried.value);
    fields['emails.failedAttempts'] = formatInt(e.failedAttempts.value);
    fields['emails.deadLettered'] = formatInt(e.deadLettered.value);
    fields['emails.since'] = formatSince(e.sent.since);
    fields['emails.trend'] = e.trend.line;
    fields['emails.trendWords'] = e.trend.words;
  } else fields['emails.status'] = `notification-service metrics unavailable: ${o.emails.error}`;
  if (o.cache.ok) {
    const c = o.cache.value;
    fields['cache.status'] = '';
    for (const t of c.tiers) fields[`cache.tier.${t.tier}`] = formatPercent(t.ratio);
    fields['cache.reads'] = formatInt(c.reads);
    fields['cache.misses'] = formatInt(c.misses);
    fields['cache.bypasses'] = formatInt(c.bypasses);
    fields['cache.since'] = formatSince(c.since);
    fields['cache.breaker'] = c.breaker;
    states['cache.breaker'] = c.breaker;
  } else fields['cache.status'] = `profile-service metrics unavailable: ${o.cache.error}`;
  return { fields, states };
}

/** A span whose text the refresh keeps current. */
function f(live: LiveFields, key: string, cls?: string): SafeHtml {
  const state = live.states[key];
  return html`<span
    data-field="${key}"
    ${state !== undefined ? html` data-state-field="${key}" data-state="${state}"` : ''}${cls ? html` class="${cls}"` : ''}
    >${live.fields[key] ?? ''}</span
  >`;
}

/** A sparkline with its words for screen readers. */
function trend(live: LiveFields, key: string): SafeHtml {
  return html`<span class="trend" aria-hidden="true" data-field="${key}.trend"
      >${live.fields[`${key}.trend`] ?? ''}</span
    ><span class="sr-only" data-field="${key}.trendWords"
      >${live.fields[`${key}.trendWords`] ?? ''}</span
    >`;
}

function statusLine(live: LiveFields, key: string): SafeHtml {
  return html`<p class="error" data-field="${key}">${live.fields[key] ?? ''}</p>`;
}

export function overviewPage(ctx: PageContext, o: Overview, refreshMs: number): string {
  const live = overviewFields(o);
  const streamLabel = { users: 'events', advisories: 'advisories', deadletter: 'dead letters' };
  const body = html`<p class="updated" role="status" aria-live="polite">${f(live, 'at')}</p>

    <section aria-labelledby="h-services">
      <h2 id="h-services">Services</h2>
      <div class="table-wrap">
        <table>
          <caption class="sr-only">
            Readiness of each service
          </caption>
          <thead>
            <tr>
              <th scope="col">Service</th>
              <th scope="col">Readiness</th>
              <th scope="col">Checks</th>
            </tr>
          </thead>
          <tbody>
            ${o.services.map(
              (s) =>
                html`<tr>
                  <th scope="row">${s.name}</th>
                  <td>${f(live, `svc.${s.name}.status`, 'badge')}</td>
                  <td>${f(live, `svc.${s.name}.checks`)}</td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>
    </section>

    <section aria-labelledby="h-streams">
      <h2 id="h-streams">Streams</h2>
      ${statusLine(live, 'nats.status')}
      <div class="table-wrap">
        <table>
          <caption class="sr-only">
            JetStream streams: messages, size, first and last message time
          </caption>
          <thead>
            <tr>
              <th scope="col">Stream</th>
              <th scope="col">Messages</th>
              <th scope="col">Bytes</th>
              <th scope="col">First</th>
              <th scope="col">Last</th>
              <th scope="col">Trend</th>
            </tr>
          </thead>
          <tbody>
            ${o.streams.map(
              (st) =>
                html`<tr data-stream="${st.role}">
                  <th scope="row">
                    ${st.name} <span class="muted">(${streamLabel[st.role]})</span>
                  </th>
                  <td class="num">${f(live, `stream.${st.role}.messages`)}</td>
                  <td class="num">${f(live, `stream.${st.role}.bytes`)}</td>
                  <td>${f(live, `stream.${st.role}.first`)}</td>
                  <td>${f(live, `stream.${st.role}.last`)}</td>
                  <td>${trend(live, `stream.${st.role}`)}</td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>
    </section>

    <section aria-labelledby="h-consumers">
      <h2 id="h-consumers">Consumers</h2>
      <div class="table-wrap">
        <table>
          <caption class="sr-only">
            Every consumer: pending, acknowledgements pending against max_ack_pending, redeliveries,
            last activity
          </caption>
          <thead>
            <tr>
              <th scope="col">Consumer</th>
              <th scope="col">Pending</th>
              <th scope="col">Ack pending / max</th>
              <th scope="col">Redelivered</th>
              <th scope="col">Last active</th>
              <th scope="col">Trend (pending)</th>
            </tr>
          </thead>
          <tbody>
            ${o.consumers.map((c) => {
              const k = consumerKey(c);
              return html`<tr data-consumer="${c.name}">
                <th scope="row">
                  ${c.name}${c.durable ? '' : html` <span class="muted">(ephemeral)</span>`}<br /><span
                    class="muted"
                    >on ${c.stream}</span
                  >
                </th>
                <td class="num">${f(live, `${k}.pending`)}</td>
                <td class="num">
                  ${f(live, `${k}.ackPending`)} /
                  ${f(live, `${k}.maxAckPending`)}${
                    c.maxAckPending > 0
                      ? html`<br /><meter
                            min="0"
                            max="${c.maxAckPending}"
                            value="${c.ackPending}"
                            data-field="${k}.ackPendingValue"
                            aria-label="${c.name}: ack pending of max_ack_pending"
                          ></meter>`
                      : ''
                  }
                </td>
                <td class="num">${f(live, `${k}.redelivered`)}</td>
                <td>${f(live, `${k}.lastActive`)}</td>
                <td>${trend(live, k)}</td>
              </tr>`;
            })}
          </tbody>
        </table>
      </div>
      ${o.consumers.length === 0 ? html`<p>No consumers.</p>` : ''}
    </section>

    <section aria-labelledby="h-outbox">
      <h2 id="h-outbox">Outbox</h2>
      ${statusLine(live, 'outbox.status')}
      ${
        o.outbox.ok
          ? html`<div class="table-wrap">
              <table>
                <caption class="sr-only">
                  Outbox events not yet published, per producer
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Producer</th>
                    <th scope="col">Pending</th>
                    <th scope="col">Oldest pending</th>
                    <th scope="col">Trend</th>
                  </tr>
                </thead>
                <tbody>
                  ${o.outbox.producers.map(
                    (p) =>
                      html`<tr data-producer="${p.producer}">
                        <th scope="row">${p.producer}</th>
                        <td class="num">${f(live, `outbox.${p.producer}.pending`)}</td>
                        <td>${f(live, `outbox.${p.producer}.oldest`)}</td>
                        <td>${trend(live, `outbox.${p.producer}`)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>`
          : ''
      }
    </section>

    <div class="cards">
      <section aria-labelledby="h-emails" class="card">
        <h2 id="h-emails">Emails and dead letters, last hour</h2>
        ${statusLine(live, 'emails.status')}
        ${
          o.emails.ok
            ? html`<dl class="figures" aria-live="polite">
                  <div>
                    <dt>Welcome emails sent</dt>
                    <dd>${f(live, 'emails.sent')}</dd>
                  </div>
                  <div>
                    <dt>Retried</dt>
                    <dd>${f(live, 'emails.retried')}</dd>
                  </div>
                  <div>
                    <dt>Failed attempts</dt>
                    <dd>${f(live, 'emails.failedAttempts')}</dd>
                  </div>
                  <div>
                    <dt>Dead letters written</dt>
                    <dd>${f(live, 'emails.deadLettered')}</dd>
                  </div>
                </dl>
                <p class="muted">
                  Counted by notification-service, ${f(live, 'emails.since')}. Sent per sample:
                  ${trend(live, 'emails')}
                </p>`
            : ''
        }
      </section>

      <section aria-labelledby="h-cache" class="card">
        <h2 id="h-cache">Profile cache</h2>
        ${statusLine(live, 'cache.status')}
        ${
          o.cache.ok
            ? html`<dl class="figures" aria-live="polite">
                  ${o.cache.value.tiers.map(
                    (t) =>
                      html`<div>
                        <dt>Hit ratio, ${t.tier} tier</dt>
                        <dd>${f(live, `cache.tier.${t.tier}`)}</dd>
                      </div>`,
                  )}
                  <div>
                    <dt>Reads</dt>
                    <dd>${f(live, 'cache.reads')}</dd>
                  </div>
                  <div>
                    <dt>Misses</dt>
                    <dd>${f(live, 'cache.misses')}</dd>
                  </div>
                  <div>
                    <dt>Bypasses (Redis skipped)</dt>
                    <dd>${f(live, 'cache.bypasses')}</dd>
                  </div>
                  <div>
                    <dt>Redis circuit breaker</dt>
                    <dd>${f(live, 'cache.breaker', 'badge')}</dd>
                  </div>
                </dl>
                <p class="muted">Counted by profile-service, ${f(live, 'cache.since')}.</p>`
            : ''
        }
      </section>
    </div>`;
  return page(ctx, { title: 'Overview', body, live: { url: '/api/overview', ms: refreshMs } });
}
