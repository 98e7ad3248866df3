// Renders both kustomize overlays and holds every object to the Kubernetes schemas and every
// container to the deployment policy of deploy/README.md: probes on real routes and ports,
// resources, non-root, read-only root filesystem, pinned images, commands that run compiled
// JavaScript with plain node (never tsx), and every variable the service's
// own config schema needs actually provided (env and envFrom resolved against the rendered objects).
// The monitoring component's custom resources are held to what they are for: the PrometheusRule
// carries exactly alerts.yml's groups (a stale `pnpm observability` copy fails here), and every app
// Service has one ServiceMonitor whose selector and port are real and which the NetworkPolicies let
// Prometheus scrape.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { names } from '@app/contracts';
import {
  containerEnvironment,
  dataKeys,
  DEPLOY_DIR,
  documentedPorts,
  isPinnedImage,
  loadRuleGroups,
  loadServiceEnvSchema,
  podSpecOf,
  probePort,
  productionCommandProblems,
  ref,
  renderKustomize,
  REPO_ROOT,
  schemaVariables,
  SERVICES,
  sourceOfImagePath,
  validateWithKubernetesModels,
  variablesToProvide,
  type Container,
  type K8sObject,
  type PodSpec,
} from '../src/index.js';

const K8S = join(DEPLOY_DIR, 'k8s');
const NAMESPACE = 'jetstream-fastify';
const ports = documentedPorts().ports;
const topologyNames = names();
/** The placeholder Secret of the base: prod drops it and expects the real one to exist. */
const secretTemplate = parse(
  readFileSync(join(K8S, 'base', 'secrets.template.yaml'), 'utf8'),
) as K8sObject;
/** A service's grace period for draining (platform runServer default, NOTIFY_GRACE_MS default). */
const APP_GRACE_SECONDS = 10;
/** Where Prometheus runs, as network-policies.yaml names it. */
const PROMETHEUS_NAMESPACE = 'monitoring';
/** The Prometheus Operator kinds of the monitoring component, checked in their own test. */
const PROMETHEUS_RULE = 'monitoring.coreos.com/v1/PrometheusRule';
const SERVICE_MONITOR = 'monitoring.coreos.com/v1/ServiceMonitor';
const MONITORING_KINDS = new Set([PROMETHEUS_RULE, SERVICE_MONITOR]);
const ruleGroups = loadRuleGroups();

const schemas = new Map(
  await Promise.all(SERVICES.map(async (s) => [s, await loadServiceEnvSchema(s)] as const)),
);

const overlays = {
  dev: await renderKustomize(join(K8S, 'overlays', 'dev')),
  prod: await renderKustomize(join(K8S, 'overlays', 'prod')),
};

const find = (objects: K8sObject[], kind: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata.name === name);
const workloads = (objects: K8sObject[]) =>
  objects.flatMap((o) => {
    const pod = podSpecOf(o);
    return pod ? [{ object: o, pod }] : [];
  });
const allContainers = (pod: PodSpec): Container[] => [
  ...(pod.initContainers ?? []),
  ...pod.containers,
];

type Selector = {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
};
type Peer = { podSelector?: Selector; namespaceSelector?: Selector; ipBlock?: object };
type Rule = { ports?: Array<{ port: number }>; to?: Peer[]; from?: Peer[] };
type PolicySpec = {
  podSelector: Selector;
  policyTypes: string[];
  ingress?: Rule[];
  egress?: Rule[];
};
/** Whether a label selector (matchLabels and matchExpressions; `{}` picks all) picks `labels`. */
const selectorMatches = (selector: Selector, labels: Record<string, string>) =>
  Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v) &&
  (selector.matchExpressions ?? []).every((e) => {
    const value = labels[e.key];
    if (e.operator === 'In') return value !== undefined && (e.values ?? []).includes(value);
    if (e.operator === 'NotIn') return value === undefined || !(e.values ?? []).includes(value);
    if (e.operator === 'Exists') return value !== undefined;
    if (e.operator === 'DoesNotExist') return value === undefined;
    return false;
  });
/** The labels of a workload's pods. */
const templateLabels = (o: K8sObject) =>
  (o.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata
    .labels;
/** `15s`, `1m`, `500ms` in seconds; NaN for anything else. */
const durationSeconds = (d: string | undefined) => {
  const m = /^(\d+)(ms|s|m|h)$/.exec(d ?? '');
  if (!m) return NaN;
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as 'ms' | 's' | 'm' | 'h'];
};

for (const [overlay, objects] of Object.entries(overlays)) {
  void t.test(`${overlay}: every rendered object is valid`, async (t) => {
    t.ok(objects.length > 20, `rendered ${objects.length} objects`);
    for (const o of objects) {
      if (o.kind !== 'Namespace') {
        t.equal(o.metadata.namespace, NAMESPACE, `${ref(o)} is in ${NAMESPACE}`);
      }
      const validated = await validateWithKubernetesModels(o);
      if (validated) {
        t.pass(`${ref(o)} matches the ${o.apiVersion} schema`);
        continue;
      }
      // kubernetes-models has no CRDs: check those used by hand. The Prometheus Operator's have a
      // test of their own (below); the rest is KEDA's ScaledObject, against its required fields.
      if (MONITORING_KINDS.has(`${o.apiVersion}/${o.kind}`)) {
        t.ok(o.spec && typeof o.spec === 'object', `${ref(o)} has a spec (checked below)`);
        continue;
      }
      t.equal(`${o.apiVersion}/${o.kind}`, 'keda.sh/v1alpha1/ScaledObject', `${ref(o)} is known`);
      const spec = o.spec as {
        scaleTargetRef?: { name?: string };
        minReplicaCount?: number;
        maxReplicaCount?: number;
        triggers?: Array<{ type?: string; metadata?: Record<string, string> }>;
      };
      t.ok(
        find(objects, 'Deployment', spec.scaleTargetRef?.name ?? ''),
        'scaleTargetRef names a rendered Deployment',
      );
      t.ok((spec.minReplicaCount ?? 0) >= 1, 'never scales to zero (it also serves admin/health)');
      t.ok((spec.maxReplicaCount ?? 0) >= (spec.minReplicaCount ?? 0), 'max >= min');
      t.equal(spec.triggers?.length, 1);
      const trigger = spec.triggers![0]!;
      t.equal(trigger.type, 'nats-jetstream');
      const md = trigger.metadata ?? {};
      t.equal(md.stream, topologyNames.streams.users, 'the stream of @app/contracts');
      t.equal(md.consumer, topologyNames.consumers.welcomeEmail, 'the consumer of @app/contracts');
      t.match(md.lagThreshold, /^[1-9]\d*$/, 'lagThreshold is a positive integer string');
      t.ok(md.account, 'account set ($G without auth)');
      const [host, port] = (md.natsServerMonitoringEndpoint ?? '').split(':');
      const [svc, ns] = (host ?? '').split('.');
      t.equal(ns, NAMESPACE, 'the endpoint names our namespace (KEDA runs in its own)');
      const service = find(objects, 'Service', svc ?? '');
      t.ok(service, `monitoring endpoint ${md.natsServerMonitoringEndpoint} is a rendered Service`);
      const servicePorts = (service?.spec as { ports: Array<{ port: number }> }).ports;
      t.ok(
        servicePorts.some((p) => p.port === Number(port)),
        'and the port is one of its ports',
      );
    }
  });

  void t.test(`${overlay}: every container follows the security and resource policy`, async (t) => {
    for (const { object, pod } of workloads(objects)) {
      for (const c of allContainers(pod)) {
        const where = `${ref(object)} container ${c.name}`;
        t.ok(c.image && isPinnedImage(c.image), `${where}: image ${c.image} is pinned`);
        for (const kind of ['requests', 'limits'] as const) {
          t.ok(c.resources?.[kind]?.cpu, `${where}: cpu ${kind}`);
          t.ok(c.resources?.[kind]?.memory, `${where}: memory ${kind}`);
        }
        const runAsNonRoot = c.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot;
        t.equal(runAsNonRoot, true, `${where}: runAsNonRoot`);
        const uid = c.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
        // the images name a user (`USER node`); the kubelet can only verify a numeric one
        t.ok(uid !== undefined && uid > 0, `${where}: numeric non-root runAsUser`);
        t.equal(c.securityContext?.readOnlyRootFilesystem, true, `${where}: read-only root fs`);
        t.equal(c.securityContext?.allowPrivilegeEscalation, false, `${where}: no escalation`);
        t.same(c.securityContext?.capabilities?.drop, ['ALL'], `${where}: drops ALL capabilities`);
        const seccomp =
          c.securityContext?.seccompProfile?.type ?? pod.securityContext?.seccompProfile?.type;
        t.equal(seccomp, 'RuntimeDefault', `${where}: seccomp RuntimeDefault`);
      }
    }
  });

  void t.test(`${overlay}: long-running containers have probes on real routes`, async (t) => {
    const longRunning = workloads(objects).filter(({ object }) =>
      ['Deployment', 'StatefulSet'].includes(object.kind),
    );
    t.same(
      longRunning.map(({ object }) => ref(object)).sort(),
      [...SERVICES.map((s) => `Deployment/${s}`), 'StatefulSet/nats'].sort(),
    );
    for (const { object, pod } of longRunning) {
      for (const c of pod.containers) {
        const where = `${ref(object)} container ${c.name}`;
        t.ok(c.livenessProbe?.httpGet, `${where}: HTTP liveness probe`);
        t.ok(c.readinessProbe?.httpGet, `${where}: HTTP readiness probe`);
        const live = probePort(c, c.livenessProbe!);
        const ready = probePort(c, c.readinessProbe!);
        t.ok(
          c.ports?.some((p) => p.containerPort === live),
          `${where}: liveness port is a container port`,
        );
        t.ok(
          c.ports?.some((p) => p.containerPort === ready),
          `${where}: readiness port is a container port`,
        );
        if (object.kind === 'StatefulSet') {
          t.match(c.livenessProbe?.httpGet?.path, /^\/healthz/, `${where}: NATS /healthz`);
          t.match(c.readinessProbe?.httpGet?.path, /^\/healthz/, `${where}: NATS /healthz`);
          t.equal(live, 8222, `${where}: probes on the monitoring port`);
          continue;
        }
        const service = object.metadata.name;
        t.equal(c.livenessProbe?.httpGet?.path, '/health/live', `${where}: liveness route`);
        t.equal(c.readinessProbe?.httpGet?.path, '/health/ready', `${where}: readiness route`);
        t.equal(live, ports.get(service), `${where}: probes the documented port`);
        t.equal(ready, ports.get(service), `${where}: probes the documented port`);
        const port = c.env?.find((e) => e.name === 'PORT')?.value;
        t.equal(Number(port), ports.get(service), `${where}: PORT env is the probed port`);
        t.equal(c.image?.split('/').at(-1)?.split(':')[0], service, `${where}: its own image`);
        const command = [...(c.command ?? []), ...(c.args ?? [])];
        t.same(command, ['node', 'dist/server.js'], `${where}: runs the compiled service`);
        t.same(productionCommandProblems(command), [], `${where}: with plain node`);
        const source = sourceOfImagePath(command.at(-1) ?? '', service);
        t.ok(source && existsSync(source), `${where}: dist/server.js is compiled from ${source}`);
        t.ok(
          c.volumeMounts?.some((m) => m.mountPath === '/tmp') &&
            pod.volumes?.some((v) => v.emptyDir),
          `${where}: writable /tmp (emptyDir) beside the read-only root`,
        );
        const preStop = c.lifecycle?.preStop?.exec?.command ?? [];
        t.equal(preStop[0], 'sleep', `${where}: preStop sleeps so endpoints drop the pod first`);
        const sleep = Number(preStop[1]);
        t.ok(sleep >= 5, `${where}: sleeps at least 5 s`);
        t.ok(
          (pod.terminationGracePeriodSeconds ?? 30) >= sleep + APP_GRACE_SECONDS,
          `${where}: grace period ${pod.terminationGracePeriodSeconds}s covers preStop + drain`,
        );
      }
    }
  });

  void t.test(
    `${overlay}: every variable a service's config schema needs is provided`,
    async (t) => {
      for (const service of SERVICES) {
        const deployment = find(objects, 'Deployment', service);
        t.ok(deployment, `Deployment/${service} rendered`);
        const c = podSpecOf(deployment!)!.containers[0]!;
        const { variables, problems } = containerEnvironment(c, objects, [secretTemplate]);
        t.same(problems, [], `${service}: every env reference resolves`);
        const schema = schemas.get(service)!;
        for (const name of variablesToProvide(schema)) {
          t.ok(variables.has(name), `${service}: ${name} provided (${variables.get(name)})`);
        }
        const known = new Set(schemaVariables(schema));
        for (const e of c.env ?? []) {
          t.ok(known.has(e.name), `${service}: env ${e.name} is a variable its schema reads`);
        }
      }
      for (const [job, needs] of [
        ['migrate', ['DATABASE_URL']],
        ['provision', ['NATS_URL', 'NATS_NAMESPACE', 'NATS_STREAM_REPLICAS']],
      ] as const) {
        const c = podSpecOf(find(objects, 'Job', job)!)!.containers[0]!;
        const { variables, problems } = containerEnvironment(c, objects, [secretTemplate]);
        t.same(problems, [], `Job/${job}: every env reference resolves`);
        for (const name of needs) t.ok(variables.has(name), `Job/${job}: ${name} provided`);
      }
    },
  );

  void t.test(`${overlay}: Jobs run commands that exist in the image`, async (t) => {
    const signupDeps = Object.keys(
      (
        JSON.parse(
          readFileSync(join(REPO_ROOT, 'services/signup-service/package.json'), 'utf8'),
        ) as { dependencies: Record<string, string> }
      ).dependencies,
    );
    for (const job of ['migrate', 'provision']) {
      const c = podSpecOf(find(objects, 'Job', job)!)!.containers[0]!;
      t.match(c.image, /signup-service:/, `Job/${job} runs the signup-service image`);
      const script = c.command?.at(-1) ?? '';
      t.same(productionCommandProblems(c.command ?? []), [], `Job/${job}: node on compiled JS`);
      const source = sourceOfImagePath(script, 'signup-service');
      t.ok(source && existsSync(source), `Job/${job}: ${script} is compiled from ${source}`);
      const pkg = `@app/${script.split('/')[2]}`;
      t.ok(signupDeps.includes(pkg), `Job/${job}: ${pkg} is deployed with signup-service`);
    }
  });

  void t.test(`${overlay}: Services, PDBs, HPAs and NATS fit together`, async (t) => {
    const podLabels = (name: string, kind = 'Deployment') =>
      (find(objects, kind, name)?.spec as { template: { metadata: { labels: object } } }).template
        .metadata.labels as Record<string, string>;
    const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
      Object.entries(selector).every(([k, v]) => labels[k] === v);
    for (const service of SERVICES) {
      const svc = find(objects, 'Service', service);
      const spec = svc?.spec as {
        selector: Record<string, string>;
        ports: Array<{ port: number }>;
      };
      t.ok(selects(spec.selector, podLabels(service)), `Service/${service} selects its pods`);
      t.equal(spec.ports[0]?.port, ports.get(service), `Service/${service} on the documented port`);
      const pdb = find(objects, 'PodDisruptionBudget', service);
      const pdbSelector = (pdb?.spec as { selector: { matchLabels: Record<string, string> } })
        .selector.matchLabels;
      t.ok(selects(pdbSelector, podLabels(service)), `PDB/${service} selects its pods`);
    }
    for (const service of ['signup-service', 'profile-service']) {
      const hpa = find(objects, 'HorizontalPodAutoscaler', service);
      t.equal(
        (hpa?.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name,
        service,
        `HPA/${service} scales its Deployment`,
      );
    }
    t.notOk(
      find(objects, 'HorizontalPodAutoscaler', 'notification-service'),
      'notification-service is scaled by KEDA only (two autoscalers would fight)',
    );

    const nats = find(objects, 'StatefulSet', 'nats')!;
    const natsSpec = nats.spec as { replicas: number; serviceName: string };
    t.equal(natsSpec.replicas, 3, 'NATS runs as a 3-node cluster');
    const headless = find(objects, 'Service', natsSpec.serviceName);
    t.equal((headless?.spec as { clusterIP: string }).clusterIP, 'None', 'with a headless Service');
    const natsConf = Object.values(
      find(
        objects,
        'ConfigMap',
        (podSpecOf(nats)!.volumes ?? []).find((v) => v.configMap)!.configMap!.name,
      )!.data as Record<string, string>,
    )[0]!;
    const routes = [...natsConf.matchAll(/nats:\/\/(nats-\d)\.nats-headless:6222/g)].map(
      (m) => m[1],
    );
    t.same(routes, ['nats-0', 'nats-1', 'nats-2'], 'routes name the three pods');
    t.match(natsConf, /jetstream\s*\{/, 'JetStream enabled');
  });

  void t.test(
    `${overlay}: NetworkPolicies deny by default and allow only what is needed`,
    async (t) => {
      const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
      const specs = policies.map((p) => p.spec as PolicySpec);
      /** The app.kubernetes.io/name values a selector picks (undefined: every pod). */
      const namesOf = (selector: Selector): string[] | undefined => {
        const name = selector.matchLabels?.['app.kubernetes.io/name'];
        if (name) return [name];
        const expression = selector.matchExpressions?.find(
          (e) => e.key === 'app.kubernetes.io/name' && e.operator === 'In',
        );
        return expression?.values;
      };
      t.ok(
        specs.some(
          (s) =>
            Object.keys(s.podSelector).length === 0 &&
            s.policyTypes.includes('Ingress') &&
            s.policyTypes.includes('Egress') &&
            !s.ingress &&
            !s.egress,
        ),
        'a default deny-all policy for every pod',
      );
      const egressPorts = new Set(
        specs.flatMap((s) => (s.egress ?? []).flatMap((r) => (r.ports ?? []).map((p) => p.port))),
      );
      const httpPorts = new Set(SERVICES.map((service) => ports.get(service)!));
      const consoleTargets = SERVICES.filter((service) => service !== 'ops-console');
      t.same(
        [...egressPorts].sort((a, b) => a - b),
        [
          25,
          53,
          587,
          ...consoleTargets.map((service) => ports.get(service)!),
          4222,
          5432,
          6222,
          6379,
        ].sort((a, b) => a - b),
        "egress only to DNS, Postgres, Redis, NATS (and its routes), SMTP, and the services' HTTP",
      );
      for (const s of specs) {
        for (const rule of s.egress ?? []) {
          const http = (rule.ports ?? []).filter((p) => httpPorts.has(p.port));
          if (http.length === 0) continue;
          t.same(namesOf(s.podSelector), ['ops-console'], 'only the console calls the services');
          const targets = (rule.to ?? []).flatMap((peer) =>
            peer.podSelector && !peer.namespaceSelector && !peer.ipBlock
              ? (namesOf(peer.podSelector) ?? ['(every pod)'])
              : ['(not a pod of the namespace)'],
          );
          t.same(
            targets.sort(),
            [...consoleTargets].sort(),
            `the console's egress to ${http.map((p) => p.port).join(', ')} is to the services' pods`,
          );
        }
      }
      for (const s of specs) {
        for (const rule of s.egress ?? []) {
          t.ok(rule.ports && rule.ports.length > 0, 'no egress rule opens every port');
        }
        for (const rule of s.ingress ?? []) {
          t.ok(rule.ports && rule.ports.length > 0, 'no ingress rule opens every port');
        }
      }
      const ingressPorts = new Set(
        specs.flatMap((s) => (s.ingress ?? []).flatMap((r) => (r.ports ?? []).map((p) => p.port))),
      );
      for (const service of SERVICES) {
        t.ok(ingressPorts.has(ports.get(service)!), `ingress allowed to ${service}'s port`);
      }
      // the console can redrive: only named namespaces (the ingress controller, Prometheus) reach it
      const toConsole = specs.filter((s) => {
        const selected = namesOf(s.podSelector);
        return (s.ingress ?? []).length > 0 && (!selected || selected.includes('ops-console'));
      });
      t.ok(toConsole.length > 0, 'a policy lets something reach the console');
      for (const s of toConsole) {
        for (const rule of s.ingress ?? []) {
          t.ok((rule.from ?? []).length > 0, 'ingress to the console names who may reach it');
          for (const peer of rule.from ?? []) {
            t.ok(
              peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'],
              'a namespace, by name',
            );
          }
          t.same(
            (rule.ports ?? []).map((p) => p.port),
            [ports.get('ops-console')],
            "on the console's port only",
          );
        }
      }
    },
  );

  void t.test(`${overlay}: Prometheus loads alerts.yml and scrapes every service`, async (t) => {
    const rules = objects.filter((o) => `${o.apiVersion}/${o.kind}` === PROMETHEUS_RULE);
    const monitors = objects.filter((o) => `${o.apiVersion}/${o.kind}` === SERVICE_MONITOR);
    t.same(
      rules.map((o) => o.metadata.name),
      ['jetstream-fastify'],
      'one PrometheusRule, jetstream-fastify',
    );
    const groups = (rules[0]?.spec as { groups?: unknown } | undefined)?.groups;
    t.same(
      groups,
      ruleGroups.groups,
      "its spec.groups are exactly alerts.yml's groups (if not, run `pnpm observability`)",
    );
    for (const group of (groups ?? []) as typeof ruleGroups.groups) {
      for (const rule of group.rules) {
        const where = `${group.name}: ${String(rule.alert ?? rule.record)}`;
        const labels = (rule.labels ?? {}) as Record<string, string>;
        const annotations = (rule.annotations ?? {}) as Record<string, string>;
        t.ok(rule.alert, `${where} is an alerting rule`);
        t.match(labels.severity, /^(warning|critical)$/, `${where}: a severity label`);
        for (const key of ['summary', 'description', 'runbook_url']) {
          t.ok(annotations[key]?.trim(), `${where}: a ${key} annotation`);
        }
      }
    }

    // the operator's Prometheus selects rules and monitors by label: the same labels on all
    for (const o of [...rules, ...monitors]) {
      t.equal(o.metadata.labels?.release, rules[0]?.metadata.labels?.release, `${ref(o)}: release`);
    }
    t.ok(rules[0]?.metadata.labels?.release, 'the PrometheusRule has a release label');

    const services = objects.filter((o) => o.kind === 'Service');
    type ServicePort = { name?: string; port: number; targetPort?: number | string };
    type ServiceSpec = { selector?: Record<string, string>; ports: ServicePort[] };
    type Endpoint = { port?: string; path?: string; interval?: string; scrapeTimeout?: string };
    const monitored = new Map<string, string[]>();
    const podPorts: Array<{ monitor: string; labels: Record<string, string>; port: number }> = [];
    for (const monitor of monitors) {
      const where = ref(monitor);
      const spec = monitor.spec as {
        selector?: Selector;
        namespaceSelector?: { any?: boolean; matchNames?: string[] };
        endpoints?: Endpoint[];
      };
      t.ok(
        !spec.namespaceSelector ||
          spec.namespaceSelector.any ||
          spec.namespaceSelector.matchNames?.includes(NAMESPACE),
        `${where}: looks in ${NAMESPACE}`,
      );
      const selector = spec.selector ?? {};
      t.ok(
        Object.keys(selector.matchLabels ?? {}).length + (selector.matchExpressions ?? []).length >
          0,
        `${where}: a selector that does not pick every Service`,
      );
      const selected = services.filter((s) => selectorMatches(selector, s.metadata.labels ?? {}));
      t.same(
        selected.map((s) => s.metadata.name),
        [monitor.metadata.name],
        `${where}: selects exactly the Service of its name`,
      );
      for (const service of selected) {
        monitored.set(service.metadata.name, [
          ...(monitored.get(service.metadata.name) ?? []),
          where,
        ]);
      }
      const service = selected[0];
      const serviceSpec = service?.spec as ServiceSpec | undefined;
      t.ok((spec.endpoints ?? []).length > 0, `${where}: an endpoint`);
      for (const endpoint of spec.endpoints ?? []) {
        const servicePort = serviceSpec?.ports.find((p) => p.name === endpoint.port);
        t.ok(servicePort, `${where}: endpoint port ${endpoint.port} is a port of its Service`);
        t.equal(endpoint.path, '/metrics', `${where}: scrapes /metrics`);
        const interval = durationSeconds(endpoint.interval);
        const timeout = durationSeconds(endpoint.scrapeTimeout);
        t.equal(interval, 15, `${where}: every 15 s`);
        t.ok(timeout > 0 && timeout < interval, `${where}: scrapeTimeout below the interval`);
        // the pods behind the Service, and the container port the scrape reaches
        const deployment = objects.find(
          (o) =>
            o.kind === 'Deployment' &&
            serviceSpec?.selector !== undefined &&
            selectorMatches({ matchLabels: serviceSpec.selector }, templateLabels(o)),
        );
        const target = servicePort?.targetPort ?? servicePort?.port;
        const containerPort = (deployment ? podSpecOf(deployment)!.containers : [])
          .flatMap((c) => c.ports ?? [])
          .find((p) => p.name === target || p.containerPort === target)?.containerPort;
        t.equal(
          containerPort,
          ports.get(monitor.metadata.name),
          `${where}: reaches ${deployment ? ref(deployment) : '(no Deployment)'} on its port`,
        );
        if (deployment && containerPort !== undefined) {
          podPorts.push({
            monitor: where,
            labels: templateLabels(deployment),
            port: containerPort,
          });
        }
      }
    }
    for (const service of SERVICES) {
      t.same(
        monitored.get(service)?.length,
        1,
        `Service/${service} has exactly one ServiceMonitor`,
      );
    }
    t.same(
      [...monitored.keys()].sort(),
      [...SERVICES].sort(),
      'and only the app Services are monitored',
    );

    // NetworkPolicies: some policy that selects the pod admits the Prometheus namespace on the port
    const policies = objects
      .filter((o) => o.kind === 'NetworkPolicy')
      .map((o) => o.spec as PolicySpec);
    const fromPrometheus = (peer: Peer) =>
      !peer.ipBlock &&
      (!peer.podSelector || Object.keys(peer.podSelector).length === 0) &&
      peer.namespaceSelector !== undefined &&
      selectorMatches(peer.namespaceSelector, {
        'kubernetes.io/metadata.name': PROMETHEUS_NAMESPACE,
      });
    for (const { monitor, labels, port } of podPorts) {
      const allowed = policies.some(
        (p) =>
          p.policyTypes.includes('Ingress') &&
          selectorMatches(p.podSelector, labels) &&
          (p.ingress ?? []).some(
            (rule) =>
              (!rule.ports || rule.ports.some((p) => p.port === port)) &&
              (!rule.from || rule.from.some(fromPrometheus)),
          ),
      );
      t.ok(
        allowed,
        `${monitor}: the NetworkPolicies let ${PROMETHEUS_NAMESPACE} reach port ${port}`,
      );
    }
  });
}

void t.test('the overlays differ where they should', async (t) => {
  const config = (objects: K8sObject[]) =>
    objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('app-config'))!
      .data as Record<string, string>;
  t.equal(config(overlays.dev).NATS_STREAM_REPLICAS, '1', 'dev: streams at R1');
  t.equal(config(overlays.prod).NATS_STREAM_REPLICAS, '3', 'prod: streams at R3');
  // prod names every NATS member, as the cluster scenarios of packages/reliability connect.
  const nats = find(overlays.prod, 'StatefulSet', 'nats')!.spec as {
    replicas: number;
    serviceName: string;
  };
  t.same(
    config(overlays.prod).NATS_URL?.split(','),
    Array.from({ length: nats.replicas }, (_, i) => `nats://nats-${i}.${nats.serviceName}:4222`),
    `prod: NATS_URL lists the ${nats.replicas} members of the StatefulSet`,
  );
  for (const service of SERVICES) {
    const replicas = (o: K8sObject[]) =>
      (find(o, 'Deployment', service)!.spec as { replicas: number }).replicas;
    t.equal(replicas(overlays.dev), 1, `dev: one ${service}`);
    t.ok(replicas(overlays.prod) >= 3, `prod: ${service} x${replicas(overlays.prod)}`);
  }
  for (const o of overlays.dev.filter((x) => x.kind === 'HorizontalPodAutoscaler')) {
    t.equal((o.spec as { maxReplicas: number }).maxReplicas, 1, `dev: ${ref(o)} stays at one`);
  }

  const devSecret = find(overlays.dev, 'Secret', 'app-secrets');
  t.ok(devSecret, 'dev renders the Secret template');
  for (const [key, value] of Object.entries(
    (devSecret?.stringData ?? {}) as Record<string, string>,
  )) {
    t.match(value, /REPLACE_ME/, `template ${key} is a placeholder, not a secret`);
  }
  t.notOk(
    find(overlays.prod, 'Secret', 'app-secrets'),
    'prod never applies the placeholder Secret over the real one',
  );
  t.same(dataKeys(secretTemplate).sort(), dataKeys(devSecret!).sort(), 'template keys rendered');
});
