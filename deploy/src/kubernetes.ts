// Renders a kustomize directory with `kubectl kustomize` and checks what comes out: each object
// against the Kubernetes OpenAPI schemas (kubernetes-models), and, for workloads, which
// environment variables a container really gets once env and envFrom are resolved. Also makes the
// PrometheusRule of the monitoring component from alerts.yml (kustomize cannot embed a file in a
// custom resource's spec, so `pnpm observability` writes it).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual, promisify } from 'node:util';
import { isMap, isScalar, parse, parseAllDocuments, parseDocument } from 'yaml';
import { ALERTS_FILE } from './observability.js';
import { DEPLOY_DIR, REPO_ROOT } from './paths.js';

const run = promisify(execFile);

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  ports?: Array<{ name?: string; containerPort: number }>;
  env?: Array<{
    name: string;
    value?: string;
    valueFrom?: {
      secretKeyRef?: { name: string; key: string; optional?: boolean };
      configMapKeyRef?: { name: string; key: string; optional?: boolean };
      fieldRef?: { fieldPath: string };
    };
  }>;
  envFrom?: Array<{
    configMapRef?: { name: string; optional?: boolean };
    secretRef?: { name: string; optional?: boolean };
    prefix?: string;
  }>;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}

export interface Probe {
  httpGet?: { path?: string; port: number | string };
}

export interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { drop?: string[] };
  seccompProfile?: { type: string };
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  securityContext?: SecurityContext;
  terminationGracePeriodSeconds?: number;
  volumes?: Array<{ name: string; emptyDir?: object; configMap?: { name: string } }>;
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob']);

/** `kubectl kustomize <dir>`, parsed; throws with kubectl's own message on failure. */
export async function renderKustomize(dir: string): Promise<K8sObject[]> {
  const { stdout } = await run('kubectl', ['kustomize', dir], { maxBuffer: 32 * 1024 * 1024 });
  return parseAllDocuments(stdout)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${dir}: ${doc.errors[0]!.message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

/** `Deployment/signup-service`, for messages. */
export function ref(o: K8sObject): string {
  return `${o.kind}/${o.metadata.name}`;
}

/**
 * Validates `o` with the kubernetes-models class of its apiVersion and kind. Returns false when
 * kubernetes-models has no such model (a CRD), so the caller checks those by hand; throws the
 * validator's message (prefixed with the object) when the object is invalid.
 */
export async function validateWithKubernetesModels(o: K8sObject): Promise<boolean> {
  const specifier = `kubernetes-models/${o.apiVersion}/${o.kind}`;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(specifier)) as Record<string, unknown>;
  } catch {
    return false;
  }
  const Model = mod[o.kind] as (new (data: unknown) => { validate(): void }) | undefined;
  if (typeof Model !== 'function') return false;
  try {
    new Model(o).validate();
  } catch (err) {
    throw new Error(`${ref(o)} is invalid: ${(err as Error).message}`);
  }
  return true;
}

/** The pod spec of a workload (Deployment, StatefulSet, DaemonSet, Job, CronJob), else undefined. */
export function podSpecOf(o: K8sObject): PodSpec | undefined {
  if (!WORKLOAD_KINDS.has(o.kind)) return undefined;
  type Template = { template?: { spec?: PodSpec } };
  const spec = o.spec as (Template & { jobTemplate?: { spec?: Template } }) | undefined;
  if (o.kind === 'CronJob') return spec?.jobTemplate?.spec?.template?.spec;
  return spec?.template?.spec;
}

/** The data keys of a ConfigMap or Secret (data, stringData, binaryData). */
export function dataKeys(o: K8sObject): string[] {
  const keys = new Set<string>();
  for (const field of ['data', 'stringData', 'binaryData']) {
    const value = o[field];
    if (value && typeof value === 'object') for (const k of Object.keys(value)) keys.add(k);
  }
  return [...keys];
}

/**
 * The variables a container gets, each resolved: a literal, a key that exists in a ConfigMap or
 * Secret of `objects` (or of `external`, for Secrets created outside the manifests), or a
 * fieldRef. Unresolvable references are reported in `problems` rather than silently counted.
 */
export function containerEnvironment(
  container: Container,
  objects: K8sObject[],
  external: K8sObject[] = [],
): { variables: Map<string, string>; problems: string[] } {
  const variables = new Map<string, string>();
  const problems: string[] = [];
  const find = (kind: string, name: string) =>
    objects.find((o) => o.kind === kind && o.metadata.name === name) ??
    external.find((o) => o.kind === kind && o.metadata.name === name);

  for (const source of container.envFrom ?? []) {
    const from = source.configMapRef
      ? { kind: 'ConfigMap', name: source.configMapRef.name }
      : source.secretRef
        ? { kind: 'Secret', name: source.secretRef.name }
        : undefined;
    if (!from) continue;
    const target = find(from.kind, from.name);
    if (!target) {
      problems.push(`envFrom ${from.kind}/${from.name} does not exist`);
      continue;
    }
    for (const key of dataKeys(target)) {
      variables.set(`${source.prefix ?? ''}${key}`, `${from.kind}/${from.name}#${key}`);
    }
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) {
      variables.set(e.name, 'literal');
      continue;
    }
    const keyRef = e.valueFrom?.secretKeyRef
      ? { kind: 'Secret', ...e.valueFrom.secretKeyRef }
      : e.valueFrom?.configMapKeyRef
        ? { kind: 'ConfigMap', ...e.valueFrom.configMapKeyRef }
        : undefined;
    if (keyRef) {
      const target = find(keyRef.kind, keyRef.name);
      if (target && dataKeys(target).includes(keyRef.key)) {
        variables.set(e.name, `${keyRef.kind}/${keyRef.name}#${keyRef.key}`);
      } else {
        problems.push(`${e.name}: ${keyRef.kind}/${keyRef.name} has no key ${keyRef.key}`);
      }
    } else if (e.valueFrom?.fieldRef) {
      variables.set(e.name, `fieldRef ${e.valueFrom.fieldRef.fieldPath}`);
    } else {
      problems.push(`${e.name}: neither value nor a known valueFrom`);
    }
  }
  return { variables, problems };
}

/** The container port a probe targets, resolving a named port. */
export function probePort(container: Container, probe: Probe): number | undefined {
  const port = probe.httpGet?.port;
  if (typeof port === 'number') return port;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

/** True when an image reference has an explicit tag other than `latest`, or a digest. */
export function isPinnedImage(image: string): boolean {
  if (image.includes('@sha256:')) return true;
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const colon = lastSegment.indexOf(':');
  if (colon === -1) return false;
  const tag = lastSegment.slice(colon + 1);
  return tag !== '' && tag !== 'latest';
}

/** The kustomize Component with the Prometheus Operator objects, included by both overlays. */
export const MONITORING_COMPONENT = join(DEPLOY_DIR, 'k8s', 'components', 'monitoring');
/** The generated PrometheusRule of that component (`pnpm observability`). */
export const PROMETHEUS_RULE_FILE = join(MONITORING_COMPONENT, 'prometheus-rule.yaml');

/** The PrometheusRule's metadata: its labels are those the ServiceMonitors carry too. */
export const PROMETHEUS_RULE_METADATA = {
  name: 'jetstream-fastify',
  namespace: 'jetstream-fastify',
  labels: { 'app.kubernetes.io/part-of': 'jetstream-fastify', release: 'prometheus' },
} as const;

/**
 * The text of the PrometheusRule whose `spec.groups` are the `groups:` of an alert rule file
 * (alerts.yml by default), copied as written (indented under `spec:`, so block scalars, quoting
 * and line breaks stay the lead's), under a header saying the file is generated and by what.
 * Throws when the file has no `groups:` or the copy would not parse back to the same groups.
 * Not yet prettier-formatted: `pnpm observability` runs prettier over it.
 */
export function prometheusRuleFromAlerts(source = readFileSync(ALERTS_FILE, 'utf8')): string {
  const document = parseDocument(source);
  if (document.errors.length > 0) throw new Error(`alert rules: ${document.errors[0]!.message}`);
  const root = document.contents;
  const pair = isMap(root)
    ? root.items.find((p) => isScalar(p.key) && p.key.value === 'groups')
    : undefined;
  const key = pair && isScalar(pair.key) ? pair.key : undefined;
  const value = pair?.value as { range?: [number, number, number] } | null | undefined;
  if (!key?.range || !value?.range) throw new Error('alert rules: no top-level `groups:`');
  const groups = source
    .slice(key.range[0], value.range[1])
    .trimEnd()
    .split('\n')
    .map((line) => (line.trim() === '' ? '' : `  ${line}`))
    .join('\n');
  const { name, namespace, labels } = PROMETHEUS_RULE_METADATA;
  const alertsFile = ALERTS_FILE.slice(REPO_ROOT.length + 1);
  const text = [
    `# GENERATED by \`pnpm observability\` from ${alertsFile}: do not edit.`,
    '# Change the rule file and run the command again (`pnpm observability --check` fails while',
    "# this copy is stale). spec.groups are the rule file's groups as written; the labels are",
    '# explained in kustomization.yaml beside this file.',
    'apiVersion: monitoring.coreos.com/v1',
    'kind: PrometheusRule',
    'metadata:',
    `  name: ${name}`,
    `  namespace: ${namespace}`,
    '  labels:',
    ...Object.entries(labels).map(([k, v]) => `    ${k}: ${v}`),
    'spec:',
    groups,
    '',
  ].join('\n');
  const copied = (parse(text) as { spec?: { groups?: unknown } }).spec?.groups;
  if (!isDeepStrictEqual(copied, (parse(source) as { groups: unknown }).groups)) {
    throw new Error('alert rules: the groups copied under spec: do not parse back the same');
  }
  return text;
}
