// The JetStream topology as data: every stream and consumer of DESIGN.md "Names", with the config
// the provisioning command applies. A namespace gives tests (and parallel environments) their own
// streams and subjects, so that nothing they do touches a running system.
import { Type, type Static, type TObject } from '@sinclair/typebox';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type StreamConfig,
} from '@nats-io/jetstream';

const MS = 1_000_000; // nanoseconds in a millisecond: JetStream durations are nanoseconds
const SECOND = 1000 * MS;
const DAY = 86_400 * SECOND;

export type StreamDeclaration = Partial<StreamConfig> & {
  name: string;
  subjects: string[];
  description: string;
};
export type ConsumerDeclaration = {
  stream: string;
  config: Partial<ConsumerConfig> & { durable_name: string; description: string };
};

export interface TopologyOptions {
  /** Prefix for stream names and subjects; empty for production. Lowercase letters, digits, `_`. */
  namespace?: string;
  /** Stream replicas: 1 on a single server, 3 on a JetStream cluster. */
  replicas?: number;
  welcomeEmail?: { maxAckPending?: number; maxDeliver?: number; ackWaitMs?: number };
  /** How long events stay in USERS; the dead-letter worker must read originals within it. */
  usersMaxAgeMs?: number;
}

export interface Names {
  namespace: string;
  streams: { users: string; advisories: string; deadletter: string };
  subjects: {
    userAll: string;
    userSignedUp: string;
    userProfileUpdated: string;
    deadletterAll: string;
    deadletterWelcomeEmail: string;
    maxDeliveriesAdvisories: string;
    terminatedAdvisories: string;
    /** Core NATS subject (not stored) on which profile replicas drop their in-process tier. */
    profileInvalidate: string;
  };
  consumers: { welcomeEmail: string; profileCache: string; deadletterWorker: string };
}

const NAMESPACE = /^[a-z][a-z0-9_]{0,31}$/;

export function names(namespace = ''): Names {
  if (namespace !== '' && !NAMESPACE.test(namespace)) {
    throw new Error(`namespace "${namespace}" must match ${NAMESPACE}`);
  }
  const sp = namespace ? `${namespace.toUpperCase()}_` : ''; // stream-name prefix
  const p = namespace ? `${namespace}.` : ''; // subject prefix
  const users = `${sp}USERS`;
  return {
    namespace,
    streams: { users, advisories: `${sp}USERS_ADVISORIES`, deadletter: `${sp}DEADLETTER` },
    subjects: {
      userAll: `${p}user.>`,
      userSignedUp: `${p}user.signed_up`,
      userProfileUpdated: `${p}user.profile_updated`,
      deadletterAll: `${p}deadletter.>`,
      deadletterWelcomeEmail: `${p}deadletter.user.welcome.email`,
      maxDeliveriesAdvisories: `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${users}.>`,
      terminatedAdvisories: `$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.${users}.>`,
      profileInvalidate: `${p}profile.invalidate`,
    },
    consumers: {
      welcomeEmail: 'welcome-email',
      profileCache: 'profile-cache',
      deadletterWorker: 'deadletter-worker',
    },
  };
}

export const WELCOME_EMAIL_DEFAULTS = {
  maxAckPending: 64,
  maxDeliver: 6,
  ackWaitMs: 30_000,
} as const;

/**
 * The environment variables that shape the topology's welcome-email consumer, declared beside it
 * so the provisioning command and notification-service (which bounds its own pulls by them) read
 * the same names, ranges and defaults. Spread into a config schema like platform's CommonEnv.
 */
export const TopologyEnv = {
  NOTIFY_MAX_ACK_PENDING: Type.Integer({
    minimum: 1,
    maximum: 100_000,
    default: WELCOME_EMAIL_DEFAULTS.maxAckPending,
  }),
  NOTIFY_MAX_DELIVER: Type.Integer({
    minimum: 1,
    maximum: 1000,
    default: WELCOME_EMAIL_DEFAULTS.maxDeliver,
  }),
  NOTIFY_ACK_WAIT_MS: Type.Integer({
    minimum: 1000,
    maximum: 3_600_000,
    default: WELCOME_EMAIL_DEFAULTS.ackWaitMs,
  }),
};

/** The values of TopologyEnv once a config loader has validated them. */
export type TopologyEnvValues = Static<TObject<typeof TopologyEnv>>;

export interface Topology {
  names: Names;
  streams: StreamDeclaration[];
  consumers: ConsumerDeclaration[];
}

/** Every stream and consumer the system needs, as the provisioning command applies them. */
export function topology(options: TopologyOptions = {}): Topology {
  const n = names(options.namespace);
  const replicas = options.replicas ?? 1;
  const we = { ...WELCOME_EMAIL_DEFAULTS, ...options.welcomeEmail };
  const common = {
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    num_replicas: replicas,
    allow_direct: true,
    duplicate_window: 120 * SECOND,
  } satisfies Partial<StreamConfig>;

  const streams: StreamDeclaration[] = [
    {
      ...common,
      name: n.streams.users,
      description: 'User lifecycle events (user.signed_up, user.profile_updated) from the outboxes',
      subjects: [n.subjects.userAll],
      max_age: (options.usersMaxAgeMs ?? 7 * 86_400_000) * MS,
    },
    {
      ...common,
      name: n.streams.advisories,
      description: `Captured MAX_DELIVERIES and MSG_TERMINATED advisories of ${n.streams.users}, read by the dead-letter worker`,
      subjects: [n.subjects.maxDeliveriesAdvisories, n.subjects.terminatedAdvisories],
      max_age: 30 * DAY,
    },
    {
      ...common,
      name: n.streams.deadletter,
      description:
        'Messages the consumers gave up on, byte for byte, with Dlq-* headers saying why',
      subjects: [n.subjects.deadletterAll],
      max_age: 90 * DAY,
    },
  ];

  const consumers: ConsumerDeclaration[] = [
    {
      stream: n.streams.users,
      config: {
        durable_name: n.consumers.welcomeEmail,
        description: 'notification-service: sends the welcome email for each user.signed_up',
        filter_subject: n.subjects.userSignedUp,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        // No `backoff` here: on 2.9 it silently replaces ack_wait; retries use nak(delay) instead.
        ack_wait: we.ackWaitMs * MS,
        max_deliver: we.maxDeliver,
        max_ack_pending: we.maxAckPending,
      },
    },
    {
      stream: n.streams.users,
      config: {
        durable_name: n.consumers.profileCache,
        description: 'profile-service: drops negative-cache entries when a user signs up',
        filter_subject: n.subjects.userSignedUp,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: 30 * SECOND,
        max_deliver: 10,
        max_ack_pending: 256,
      },
    },
    {
      stream: n.streams.advisories,
      config: {
        durable_name: n.consumers.deadletterWorker,
        description:
          'notification-service: copies each given-up message into the dead-letter stream',
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: 30 * SECOND,
        max_deliver: -1,
        max_ack_pending: 64,
      },
    },
  ];

  return { names: n, streams, consumers };
}

/** The welcome-email consumer's limits from validated TopologyEnv values. */
export function welcomeEmailFromEnv(
  env: TopologyEnvValues,
): Required<NonNullable<TopologyOptions['welcomeEmail']>> {
  return {
    maxAckPending: env.NOTIFY_MAX_ACK_PENDING,
    maxDeliver: env.NOTIFY_MAX_DELIVER,
    ackWaitMs: env.NOTIFY_ACK_WAIT_MS,
  };
}

/** The topology a validated config describes (its namespace, replicas and TopologyEnv values). */
export function topologyFromEnv(
  env: TopologyEnvValues & { NATS_NAMESPACE?: string; NATS_STREAM_REPLICAS?: number },
): Topology {
  return topology({
    namespace: env.NATS_NAMESPACE,
    replicas: env.NATS_STREAM_REPLICAS,
    welcomeEmail: welcomeEmailFromEnv(env),
  });
}
