// Console sessions as signed cookies: the cookie holds the session (id, role, the name the
// operator gave, expiry) and an HMAC-SHA256 of it under OPS_SESSION_SECRET, so any replica can
// check it without shared state, and a changed byte or an expired session is refused. The CSRF
// token of a session is derived from its id under the same secret (a hidden field of every form),
// so it cannot be guessed without the secret and dies with the session. Sign-out also records the
// session id as revoked (plugins/session.ts), since a signed cookie cannot be recalled otherwise.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export type Role = 'operator' | 'viewer';

export interface Session {
  /** Random session id: names the session in the revocation list and derives its CSRF token. */
  sid: string;
  role: Role;
  /** Who signed in, as they typed it: written into the audit trail as the redrive's actor. */
  name: string;
  /** Issued and expiry times, seconds since the epoch. */
  iat: number;
  exp: number;
}

const VERSION = 'v1';

function mac(secret: string, data: string): Buffer {
  return createHmac('sha256', secret).update(data).digest();
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function newSession(
  role: Role,
  name: string,
  ttlSeconds: number,
  now = Date.now(),
): Session {
  const iat = Math.floor(now / 1000);
  return { sid: randomBytes(16).toString('base64url'), role, name, iat, exp: iat + ttlSeconds };
}

/** The cookie value: `v1.<payload>.<mac>`, base64url. */
export function sealSession(session: Session, secret: string): string {
  const payload = Buffer.from(JSON.stringify(session)).toString('base64url');
  const signed = `${VERSION}.${payload}`;
  return `${signed}.${mac(secret, signed).toString('base64url')}`;
}

function isSession(value: unknown): value is Session {
  const s = value as Partial<Session> | null;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.sid === 'string' &&
    (s.role === 'operator' || s.role === 'viewer') &&
    typeof s.name === 'string' &&
    Number.isInteger(s.iat) &&
    Number.isInteger(s.exp)
  );
}

/** The session a cookie value holds, or undefined when it is malformed, forged or expired. */
export function openSession(value: string, secret: string, now = Date.now()): Session | undefined {
  const parts = value.split('.');
  if (parts.length !== 3 || parts[0] !== VERSION) return undefined;
  const [version, payload, tag] = parts as [string, string, string];
  const expected = mac(secret, `${version}.${payload}`);
  if (!sameBytes(Buffer.from(tag, 'base64url'), expected)) return undefined;
  let session: unknown;
  try {
    session = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isSession(session)) return undefined;
  if (session.exp * 1000 <= now) return undefined;
  return session;
}

/** The CSRF token of a session (hidden field `_csrf` of every form that changes something). */
export function csrfToken(session: Session, secret: string): string {
  return mac(secret, `csrf:${session.sid}`).toString('base64url');
}

export function checkCsrf(session: Session, secret: string, presented: unknown): boolean {
  if (typeof presented !== 'string' || presented === '') return false;
  return sameBytes(Buffer.from(presented), Buffer.from(csrfToken(session, secret)));
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * The role a presented access token grants, compared in constant time against both tokens
 * (hashed first, so the lengths are equal and the time reveals nothing about either).
 */
export function roleForToken(
  presented: string,
  tokens: { operator: string; viewer?: string | undefined },
): Role | undefined {
  const given = digest(presented);
  const operator = timingSafeEqual(given, digest(tokens.operator));
  const viewer = tokens.viewer !== undefined && timingSafeEqual(given, digest(tokens.viewer));
  if (operator) return 'operator';
  if (viewer) return 'viewer';
  return undefined;
}

/** Parses a Cookie header into name -> value (the first of a repeated name wins). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (name !== '' && !out.has(name)) out.set(name, value);
  }
  return out;
}

export interface CookieOptions {
  maxAgeSeconds: number;
  secure: boolean;
}

/** A Set-Cookie value: HttpOnly, SameSite=Strict, Path=/, Secure when asked; Max-Age 0 clears it. */
export function serializeCookie(name: string, value: string, options: CookieOptions): string {
  const parts = [
    `${name}=${value}`,
    'Path=/',
    `Max-Age=${Math.max(0, Math.floor(options.maxAgeSeconds))}`,
    'HttpOnly',
    'SameSite=Strict',
  ];
  if (options.secure) parts.push('Secure');
  return parts.join('; ');
}
