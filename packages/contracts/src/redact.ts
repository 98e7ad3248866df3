// Hiding credentials in URLs before they reach a log line, an error message or a terminal. It works
// on any string (a lone URL, a comma-separated server list, an error message quoting a URL), so
// callers never need to parse first.

// scheme://userinfo@ : the userinfo runs to the last '@' before the host's path, query or fragment.
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#]*)@/gi;
// In postgres URLs a userinfo without ':' is only a user name; in redis:// and nats:// it is a
// password or a token, so it is hidden whole.
const USER_ONLY_IS_A_NAME = /^postgres(ql)?:\/\/$/i;

/** `value` with the password (or a secret userinfo) of every URL in it replaced by `***`. */
export function redactUrl(value: string): string {
  return value.replace(USERINFO, (_match, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    if (colon >= 0) return `${scheme}${userinfo.slice(0, colon)}:***@`;
    if (USER_ONLY_IS_A_NAME.test(scheme)) return `${scheme}${userinfo}@`;
    return `${scheme}***@`;
  });
}
