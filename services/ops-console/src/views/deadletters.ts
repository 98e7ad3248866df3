// The dead-letter pages: the groups by reason signature (count, first and last seen, where from),
// the filtered list, and one dead letter in full (every header, the payload pretty-printed, where
// it came from, its deliveries and trace). Operators get the redrive forms (a group, a selection,
// or everything the filter matches, each to a dry run first); viewers get no form at all.
import { html, href, type SafeHtml } from '../lib/html.js';
import { formatBytes, formatInt, formatTime } from '../lib/format.js';
import type {
  DeadLetterFilter,
  DeadLetterGroup,
  DeadLetterView,
  Scan,
} from '../lib/deadletters.js';
import { csrfField, isOperator, page, type PageContext } from './layout.js';

/** The rows shown at most; the dry run of a filter still covers every match. */
export const LIST_MAX = 500;

function time(iso: string | null): SafeHtml {
  return iso ? html`<time datetime="${iso}">${formatTime(iso)}</time>` : html`—`;
}

function filterFields(filter: DeadLetterFilter): SafeHtml {
  return html`${(['subject', 'reason', 'since', 'until', 'group'] as const).map((k) =>
    filter[k] ? html`<input type="hidden" name="${k}" value="${filter[k]}" />` : '',
  )}`;
}

/** The value of a datetime-local input (UTC) for an ISO time. */
function localInput(iso: string | undefined): string {
  if (!iso) return '';
  const t = Date.parse(iso);
  return Number.isFinite(t) ? new Date(t).toISOString().slice(0, 16) : '';
}

function groupsSection(ctx: PageContext, groups: DeadLetterGroup[]): SafeHtml {
  if (groups.length === 0) return html`<p>No dead letters. Nothing has been given up on.</p>`;
  return html`<div class="table-wrap">
    <table class="groups">
      <caption class="sr-only">
        Dead letters grouped by reason signature
      </caption>
      <thead>
        <tr>
          <th scope="col">Reason</th>
          <th scope="col">Count</th>
          <th scope="col">First seen</th>
          <th scope="col">Last seen</th>
          <th scope="col">From</th>
          <th scope="col">Actions</th>
        </tr>
      </thead>
      <tbody>
        ${groups.map(
          (g) =>
            html`<tr data-group="${g.id}">
              <th scope="row">
                <span class="reason">${g.signature}</span
                >${g.example && g.example !== g.signature ? html`<br /><span class="muted">e.g. ${g.example}</span>` : ''}
              </th>
              <td class="num" data-count>${formatInt(g.count)}</td>
              <td>${time(g.firstSeen)}</td>
              <td>${time(g.lastSeen)}</td>
              <td>
                ${g.subjects.join(', ')}<br /><span class="muted">${g.consumers.join(', ')}</span>
              </td>
              <td class="actions">
                <a href="${href('/deadletters', { group: g.id })}#list"
                  >Show<span class="sr-only"> the ${g.count} dead letters of this group</span></a
                >
                ${
                  isOperator(ctx)
                    ? html`<form method="post" action="/redrive/dry-run" class="inline">
                        ${csrfField(ctx)}<input type="hidden" name="scope" value="group" /><input
                          type="hidden"
                          name="group"
                          value="${g.id}"
                        />
                        <button type="submit">
                          Dry run<span class="sr-only"> a redrive of this group</span>
                        </button>
                      </form>`
                    : ''
                }
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

function filterForm(filter: DeadLetterFilter): SafeHtml {
  return html`<form method="get" action="/deadletters" class="filters" aria-labelledby="h-filter">
    ${filter.group ? html`<input type="hidden" name="group" value="${filter.group}" />` : ''}
    <div>
      <label for="f-subject">Original subject</label
      ><input
        id="f-subject"
        name="subject"
        value="${filter.subject ?? ''}"
        placeholder="user.* or user.>"
        autocomplete="off"
      />
    </div>
    <div>
      <label for="f-reason">Reason contains</label
      ><input
        id="f-reason"
        name="reason"
        value="${filter.reason ?? ''}"
        placeholder="smtp 550"
        autocomplete="off"
      />
    </div>
    <div>
      <label for="f-since">Dead-lettered from (UTC)</label
      ><input id="f-since" name="since" type="datetime-local" value="${localInput(filter.since)}" />
    </div>
    <div>
      <label for="f-until">Until (UTC)</label
      ><input id="f-until" name="until" type="datetime-local" value="${localInput(filter.until)}" />
    </div>
    <div class="buttons">
      <button type="submit">Apply filter</button> <a href="/deadletters">Clear</a>
    </div>
  </form>`;
}

function listTable(ctx: PageContext, items: DeadLetterView[]): SafeHtml {
  const operator = isOperator(ctx);
  return html`<div class="table-wrap">
    <table class="list">
      <caption class="sr-only">
        Dead letters matching the filter, newest first
      </caption>
      <thead>
        <tr>
          ${operator ? html`<th scope="col"><input type="checkbox" id="select-all" data-select-all="seq" aria-label="Select every dead letter shown" /></th>` : ''}
          <th scope="col">Seq</th>
          <th scope="col">Dead-lettered</th>
          <th scope="col">Original subject</th>
          <th scope="col">Reason</th>
          <th scope="col">Deliveries</th>
        </tr>
      </thead>
      <tbody>
        ${items.map(
          (d) =>
            html`<tr data-seq="${d.seq}">
              ${operator ? html`<td><input type="checkbox" name="seq" value="${d.seq}" id="sel-${d.seq}" aria-label="Select dead letter ${d.seq}" /></td>` : ''}
              <td><a href="/deadletters/${d.seq}">${d.seq}</a></td>
              <td>${time(d.deadLetteredAt)}</td>
              <td>${d.originalSubject ?? '—'}</td>
              <td class="reason">${d.reason ?? '—'}</td>
              <td class="num">${d.deliveries ?? '—'}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

export function deadLettersPage(
  ctx: PageContext,
  input: {
    scan: Scan;
    groups: DeadLetterGroup[];
    matching: DeadLetterView[];
    filter: DeadLetterFilter;
    group: DeadLetterGroup | undefined;
    stream: string;
  },
): string {
  const { scan, groups, matching, filter, group } = input;
  const shown = matching.slice(-LIST_MAX).reverse();
  const filtered = Object.values(filter).some((v) => v);
  const operator = isOperator(ctx);
  const body = html`<p>
      ${formatInt(scan.total)} dead letters in <code>${input.stream}</code>${
        scan.truncated ? html` (the newest ${formatInt(scan.items.length)} are read here)` : ''
      }.
    </p>

    <section aria-labelledby="h-groups">
      <h2 id="h-groups">Groups by reason</h2>
      ${groupsSection(ctx, groups)}
    </section>

    <section aria-labelledby="h-filter">
      <h2 id="h-filter">Filter</h2>
      ${group ? html`<p>Showing the group <span class="reason">${group.signature}</span>. <a href="${href('/deadletters', { ...filter, group: undefined })}">Show every group</a></p>` : ''}
      ${filterForm(filter)}
    </section>

    <section aria-labelledby="h-list" id="list">
      <h2 id="h-list">Dead letters${filtered ? ' matching the filter' : ''}</h2>
      <p>
        ${formatInt(matching.length)}
        match${matching.length > shown.length ? html`; the newest ${formatInt(shown.length)} are listed` : ''}.
      </p>
      ${
        matching.length === 0
          ? ''
          : operator
            ? html`<form
                method="post"
                action="/redrive/dry-run"
                aria-label="Redrive selected or matching dead letters"
              >
                ${csrfField(ctx)}${filterFields(filter)} ${listTable(ctx, shown)}
                <div class="buttons">
                  <button type="submit" name="scope" value="selected">Dry run the selected</button>
                  <button type="submit" name="scope" value="filter">
                    Dry run all ${formatInt(matching.length)} matching
                  </button>
                </div>
              </form>`
            : listTable(ctx, shown)
      }
    </section>`;
  return page(ctx, { title: 'Dead letters', body });
}

function payloadText(data: Uint8Array): { kind: string; text: string } {
  if (data.length === 0) return { kind: 'empty', text: '' };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    const hex = Buffer.from(data.subarray(0, 4096))
      .toString('hex')
      .replace(/(.{2})/g, '$1 ');
    return { kind: `binary, ${formatBytes(data.length)}, hex`, text: hex.trim() };
  }
  try {
    return { kind: 'JSON', text: JSON.stringify(JSON.parse(text), null, 2) };
  } catch {
    return { kind: 'text', text };
  }
}

export function deadLetterPage(
  ctx: PageContext,
  input: {
    view: DeadLetterView;
    headers: Array<[string, string]>;
    data: Uint8Array;
    stream: string;
  },
): string {
  const { view: d, headers } = input;
  const payload = payloadText(input.data);
  const row = (label: string, value: SafeHtml | string | number | null) =>
    html`<div>
      <dt>${label}</dt>
      <dd>${value === null || value === '' ? '—' : value}</dd>
    </div>`;
  const body = html`<p>
      <a href="${href('/deadletters', { group: d.groupId })}#list">Its group</a> ·
      <a href="/deadletters">All dead letters</a>
    </p>
    <section aria-labelledby="h-where">
      <h2 id="h-where">Where it came from and why</h2>
      <dl class="facts">
        ${row('Reason', d.reason)} ${row('Reason signature', d.signature)}
        ${row('Made a dead letter by', d.advisory)}
        ${row('Original stream and sequence', d.originalStream ? `${d.originalStream} #${d.originalSeq ?? '?'}` : null)}
        ${row('Original subject', d.originalSubject)}
        ${row('Originally stored', d.originalTime ? time(d.originalTime) : null)}
        ${row('Consumer', d.consumer)} ${row('Deliveries', d.deliveries)}
        ${row('Trace id', d.traceId ? html`<code>${d.traceId}</code>` : null)}
        ${row('Dead-lettered', time(d.deadLetteredAt))}
        ${row('Dead-letter stream and subject', `${input.stream} #${d.seq}, ${d.subject}`)}
        ${row('Size', formatBytes(d.size))}
      </dl>
    </section>
    ${
      isOperator(ctx)
        ? html`<form method="post" action="/redrive/dry-run">
            ${csrfField(ctx)}<input type="hidden" name="scope" value="selected" /><input
              type="hidden"
              name="seq"
              value="${d.seq}"
            />
            <button type="submit">Dry run a redrive of this dead letter</button>
          </form>`
        : ''
    }
    <section aria-labelledby="h-headers">
      <h2 id="h-headers">Headers</h2>
      <div class="table-wrap">
        <table>
          <caption class="sr-only">
            Every header of the dead letter
          </caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Value</th>
            </tr>
          </thead>
          <tbody>
            ${headers.map(
              ([k, v]) =>
                html`<tr>
                  <th scope="row"><code>${k}</code></th>
                  <td class="wrap"><code>${v}</code></td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>
    </section>
    <section aria-labelledby="h-payload">
      <h2 id="h-payload">Payload <span class="muted">(${payload.kind})</span></h2>
      <pre class="payload" tabindex="0" aria-label="Payload">${payload.text}</pre>
    </section>`;
  return page(ctx, { title: `Dead letter ${d.seq}`, body });
}
