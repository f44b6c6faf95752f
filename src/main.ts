import type { Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import { startWorkers, type Workers } from '../jobs/worker.js';
import { createApp } from './app.js';
import { ConfigError, loadConfig, type Role } from './config.js';
import { createContainer } from './container.js';
import { createLogger } from './logger.js';

function listen(app: ReturnType<typeof createApp>, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, (err?: Error) => (err ? reject(err) : resolve(server)));
  });
}

/**
 * config → connections → container → app and/or workers; SIGTERM/SIGINT stop accepting, drain, close.
 * `roleOverride` lets jobs/worker.ts run the worker role whatever ROLE says.
 */
export async function runProcess(roleOverride?: Role): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`otaguard: invalid configuration: ${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  const role = roleOverride ?? config.role;
  const logger = createLogger(config.logLevel);
  if (config.masterKeyGenerated) {
    logger.warn(
      'MASTER_KEY is not set: using a random key for this process only. Pseudonyms, exports and receipts ' +
        'will not survive a restart. Set MASTER_KEY (openssl rand -hex 32) before storing real data.',
    );
  }

  const container = await createContainer(config, { logger });
  let server: Server | undefined;
  let workers: Workers | undefined;
  if (role === 'api' || role === 'all') {
    server = await listen(createApp(container), config.port);
    server.keepAliveTimeout = 65_000;
    logger.info({ port: config.port, role }, 'otaguard api listening');
  }
  if (role === 'worker' || role === 'all') {
    workers = startWorkers(container);
    logger.info({ queues: workers.workers.map((w) => w.name), role }, 'otaguard workers started');
  }

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error('shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    deadline.unref();
    if (server) {
      const closing = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closing;
    }
    await workers?.close();
    await container.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runProcess().catch((err: unknown) => {
    process.stderr.write(`otaguard: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
