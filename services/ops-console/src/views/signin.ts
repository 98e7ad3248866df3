// The sign-in page: the access token (an operator's or a viewer's) and the name the audit trail
// records for this session's redrives.
import { html } from '../lib/html.js';
import { page, type PageContext } from './layout.js';

export function signInPage(
  ctx: PageContext,
  input: { next: string; name?: string; error?: string; viewerEnabled: boolean },
): string {
  const body = html`${input.error ? html`<p class="error" role="alert" id="signin-error">${input.error}</p>` : ''}
    <form
      method="post"
      action="/signin"
      class="signin"
      ${input.error ? html` aria-describedby="signin-error"` : ''}
    >
      <input type="hidden" name="next" value="${input.next}" />
      <div>
        <label for="token">Access token</label>
        <input
          id="token"
          name="token"
          type="password"
          required
          autocomplete="current-password"
          autofocus${input.error ? html` aria-invalid="true"` : ''}
        />
      </div>
      <div>
        <label for="name">Your name <span class="muted">(recorded in the audit trail)</span></label>
        <input
          id="name"
          name="name"
          value="${input.name ?? ''}"
          maxlength="40"
          autocomplete="nickname"
          pattern="[A-Za-z0-9 ._@-]{1,40}"
        />
      </div>
      <div class="buttons"><button type="submit" class="primary">Sign in</button></div>
    </form>
    <p class="muted">
      The operator token may redrive dead
      letters${input.viewerEnabled ? '; the viewer token sees everything and changes nothing' : ''}.
    </p>`;
  return page(ctx, { title: 'Sign in to ops-console', body });
}
