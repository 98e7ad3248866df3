// Renders a kustomize directory with `kubectl kustomize` and checks what comes out: each object
// against the Kubernetes OpenAPI schemas (kubernetes-models), and, for workloads, which
// environment variables a container really gets once env and envFrom are resolved.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

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
