// The machine a run happened on, recorded beside its numbers so that anyone can tell whether a
// fresh run is comparable: cores, CPU model, memory, Node, and the versions of the servers it used.
import { execFile } from 'node:child_process';
import { cpus, totalmem, release, platform } from 'node:os';
import { promisify } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import pg from 'pg';

const execFileAsync = promisify(execFile);

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  postgres: string;
  redis: string;
  natsServer: string;
}

async function attempt(fn: () => Promise<string>): Promise<string> {
  try {
    return await fn();
  } catch (error) {
    return `unknown (${(error as Error).message.split('\n')[0]})`;
  }
}

export async function machineInfo(urls: {
  databaseUrl: string;
  redisUrl: string;
  natsUrl: string;
}): Promise<MachineInfo> {
  const [postgres, redis, natsServer] = await Promise.all([
    attempt(async () => {
      const client = new pg.Client({ connectionString: urls.databaseUrl });
      await client.connect();
      try {
        const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
        return rows[0]?.server_version ?? 'unknown';
      } finally {
        await client.end();
      }
    }),
    attempt(async () => {
      const client = new Redis(urls.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await client.connect();
      try {
        const info = await client.info('server');
        return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
      } finally {
        client.disconnect();
      }
    }),
    attempt(async () => {
      const nc = await connect({ servers: urls.natsUrl.split(',').map((s) => s.trim()) });
      try {
        return nc.info?.version ?? 'unknown';
      } finally {
        await nc.close();
      }
    }),
  ]);
  let cpuModel = cpus()[0]?.model.trim() ?? 'unknown';
  if (platform() === 'linux') {
    // lscpu names virtual CPUs better than /proc/cpuinfo on some hypervisors.
    const lscpu = await execFileAsync('lscpu').catch(() => ({ stdout: '' }));
    cpuModel = /^Model name:\s*(.+)$/m.exec(lscpu.stdout)?.[1]?.trim() ?? cpuModel;
  }
  return {
    cores: cpus().length,
    cpuModel,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${platform()} ${release()}`,
    node: process.version,
    postgres,
    redis,
    natsServer,
  };
}
