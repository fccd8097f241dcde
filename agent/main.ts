/**
 * `npm run agent` (or `node dist/fleet-agent.mjs`): the device agent. Reads its config from the
 * environment (see agent/config.ts and agent/fleet-agent.service), then polls until SIGTERM.
 */
import { Agent, appsToAdopt } from './agent';
import { ConfigError, loadConfig, resolveCredentials } from './config';
import { DockerEngine } from './docker-engine';
import { DeviceClient } from './protocol';
import { FileStateStore } from './state-store';

const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);

try {
  const config = loadConfig(process.env);
  const engine = new DockerEngine(config.dockerHost);
  const { uuid, token } = await resolveCredentials(config, log, () => appsToAdopt(engine));
  const agent = new Agent({
    uuid,
    client: new DeviceClient({ apiUrl: config.apiUrl, uuid, token }),
    engine,
    store: new FileStateStore(config.stateDir),
    ...(config.ipAddress ? { ipAddress: config.ipAddress } : {}),
    labels: config.labels,
    log,
  });
  const stop = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());
  log(`device ${uuid} polling ${config.apiUrl}`);
  await agent.run(stop.signal);
  log('stopped');
} catch (error) {
  process.stderr.write(`fleet-agent: ${error instanceof ConfigError ? error.message : error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
