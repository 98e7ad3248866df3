// What a service's environment must contain, read from its real TypeBox config schema
// (services/<name>/src/config.ts), so the deployment files are checked against the code that will
// refuse to start, not against a list someone keeps by hand.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './paths.js';

export const SERVICES = [
  'signup-service',
  'profile-service',
  'notification-service',
  'ops-console',
] as const;
export type ServiceName = (typeof SERVICES)[number];

/**
 * Variables whose schema default only makes sense on a developer machine (they point at
 * 127.0.0.1), so a container must set them although the schema does not require them.
 */
export const DEPLOYMENT_REQUIRED = ['DATABASE_URL', 'REDIS_URL', 'NATS_URL'] as const;

const ENV_NAME = /^[A-Z][A-Z0-9_]*$/;

// TypeBox marks schemas with global symbols; using them directly spares this package a dependency.
const Kind = Symbol.for('TypeBox.Kind');
const OptionalKind = Symbol.for('TypeBox.Optional');

type TSchema = Record<string | symbol, unknown>;
/** The part of a TypeBox `Type.Object(...)` these checks read. */
export interface TObject {
  properties: Record<string, TSchema>;
}

function isEnvObject(value: unknown): value is TObject {
  if (typeof value !== 'object' || value === null) return false;
  const schema = value as TSchema;
  if (schema[Kind] !== 'Object' || typeof schema.properties !== 'object') return false;
  const keys = Object.keys(schema.properties as object);
  return keys.length > 0 && keys.every((k) => ENV_NAME.test(k));
}

/** A property is required when it is not Optional and has no default. */
export function requiredVariables(schema: TObject): string[] {
  return Object.entries(schema.properties)
    .filter(([, s]) => s[OptionalKind] !== 'Optional' && !('default' in s))
    .map(([name]) => name)
    .sort();
}

/** Every variable the schema reads. */
export function schemaVariables(schema: TObject): string[] {
  return Object.keys(schema.properties).sort();
}

export function serviceConfigPath(service: string): string {
  return join(REPO_ROOT, 'services', service, 'src', 'config.ts');
}

/**
 * Imports services/<service>/src/config.ts and returns its exported environment schema (the
 * exported TypeBox object whose keys are all env-style names). Throws if the file or schema is
 * missing, naming the file.
 */
export async function loadServiceEnvSchema(service: string): Promise<TObject> {
  const path = serviceConfigPath(service);
  if (!existsSync(path))
    throw new Error(`${path} does not exist (no config schema for ${service})`);
  // A computed specifier keeps tsc from type-checking the services as part of this package.
  const mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  const schemas = Object.values(mod).filter(isEnvObject);
  if (schemas.length !== 1) {
    throw new Error(`${path} exports ${schemas.length} env schemas (TypeBox objects), expected 1`);
  }
  return schemas[0]!;
}

const LOOPBACK_URL =
  /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?(?:127\.\d+\.\d+\.\d+|localhost|\[::1\])(?:[:/]|$)/i;

/**
 * Variables whose schema default is a URL on the loopback interface (the ops console's
 * OPS_SIGNUP_URL and the like): right for `pnpm start`, wrong in a container, where the other
 * services are other hosts.
 */
export function loopbackDefaults(schema: TObject): string[] {
  return Object.entries(schema.properties)
    .filter(([, s]) => typeof s.default === 'string' && LOOPBACK_URL.test(s.default))
    .map(([name]) => name)
    .sort();
}

/**
 * What a deployment must provide for `service`: the schema's required variables, the datastore
 * URLs and every other variable whose default points at this machine.
 */
export function variablesToProvide(schema: TObject): string[] {
  const known = new Set(schemaVariables(schema));
  const extra = DEPLOYMENT_REQUIRED.filter((v) => known.has(v));
  return [...new Set([...requiredVariables(schema), ...extra, ...loopbackDefaults(schema)])].sort();
}
