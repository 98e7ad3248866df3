// The frame of every page: landmarks (a skip link, header, main navigation, main), the signed-in
// operator and their sign-out, the read-only notice of a viewer, and the one stylesheet and script
// (files, so that the Content-Security-Policy needs no inline script or style). A page that
// refreshes names its JSON in `data-live` on <main>; static/console.js does the rest.
import type { Session } from '../lib/session.js';
import { documentHtml, html, type SafeHtml } from '../lib/html.js';

export interface PageContext {
  session: Session | null;
  /** The session's CSRF token, for every form that changes something. */
  csrf: string | null;
  /** The request path, to mark the current navigation entry. */
  path: string;
}

export interface PageOptions {
  title: string;
  body: SafeHtml;
  /** The JSON the page refreshes its numbers from, and how often. */
  live?: { url: string; ms: number };
}

const NAV = [
  { href: '/', label: 'Overview', match: (p: string) => p === '/' },
  {
    href: '/deadletters',
    label: 'Dead letters',
    match: (p: string) => p.startsWith('/deadletters'),
  },
  {
    href: '/redrives',
    label: 'Redrives',
    match: (p: string) => p.startsWith('/redrive'),
  },
];

/** The hidden CSRF field of a form. */
export function csrfField(ctx: PageContext): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${ctx.csrf ?? ''}" />`;
}

export function isOperator(ctx: PageContext): boolean {
  return ctx.session?.role === 'operator';
}

function header(ctx: PageContext): SafeHtml {
  const s = ctx.session;
  if (!s) return html`<header class="top"><p class="brand">ops-console</p></header>`;
  return html`<header class="top">
      <p class="brand"><a href="/">ops-console</a></p>
      <nav aria-label="Main">
        <ul>
          ${NAV.map(
            (n) =>
              html`<li>
                <a href="${n.href}" ${n.match(ctx.path) ? html` aria-current="page"` : ''}
                  >${n.label}</a
                >
              </li>`,
          )}
        </ul>
      </nav>
      <div class="who">
        <span
          >Signed in as <strong>${s.name}</strong> (<span data-role="${s.role}">${s.role}</span
          >)</span
        >
        <form method="post" action="/signout" class="inline">
          ${csrfField(ctx)}
          <button type="submit" class="link">Sign out</button>
        </form>
      </div>
    </header>
    ${
      s.role === 'viewer'
        ? html`<p class="notice" role="note">
            Read-only session: you can look at everything and change nothing.
          </p>`
        : ''
    }`;
}

export function page(ctx: PageContext, options: PageOptions): string {
  const live = options.live;
  return documentHtml(
    html`<html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${options.title} · ops-console</title>
        <link rel="stylesheet" href="/static/console.css" />
        <script src="/static/console.js" defer></script>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        ${header(ctx)}
        <main
          id="main"
          tabindex="-1"
          ${live ? html` data-live="${live.url}" data-live-ms="${live.ms}"` : ''}
        >
          <h1>${options.title}</h1>
          ${options.body}
        </main>
      </body>
    </html>`,
  );
}

/** The page of a refused or failed request: its status, title, detail and stable code. */
export function errorPage(
  ctx: PageContext,
  problem: {
    status: number;
    title: string;
    detail?: string | undefined;
    code: string;
    jobId?: unknown;
  },
): string {
  const job = typeof problem.jobId === 'string' ? problem.jobId : undefined;
  return page(ctx, {
    title: problem.title,
    body: html`<p class="error" role="alert">${problem.detail ?? problem.title}</p>
      <p>Status ${problem.status}, code <code>${problem.code}</code>.</p>
      ${job ? html`<p><a href="/redrives/${job}">Follow the running redrive</a></p>` : ''}
      <p>
        <a href="${ctx.session ? '/' : '/signin'}"
          >${ctx.session ? 'Back to the overview' : 'Sign in'}</a
        >
      </p>`,
  });
}
