/**
 * `npm run simulate`: a fleet of simulated devices against a running host, for trying the system
 * by hand. Registers the devices, then polls and reports until Ctrl-C.
 *
 *   npm run simulate -- --devices 10 --image iotistic/test-app:v1.0.0 [--interval 2000] [--fail 0.1]
 *
 * API_URL (default http://127.0.0.1:3001) and ADMIN_API_KEY (default: the key the host saved in
 * DATA_DIR, default .data) say where and as whom.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { unreachableCause } from '../../client/admin-client';
import { registerFleet, startPolling } from './fleet';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '10' },
    image: { type: 'string' },
    interval: { type: 'string', default: '2000' },
    fail: { type: 'string', default: '0' },
    prefix: { type: 'string', default: 'sim' },
  },
});

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

const size = Number(values.devices);
const intervalMs = Number(values.interval);
const failShare = Number(values.fail);
if (!values.image) fail('--image is required, e.g. --image iotistic/test-app:v1.0.0');
if (!Number.isInteger(size) || size < 1 || size > 5000) fail('--devices must be an integer from 1 to 5000');
if (!(intervalMs >= 100)) fail('--interval must be at least 100 (milliseconds)');
if (!(failShare >= 0 && failShare <= 1)) fail('--fail must be a share from 0 to 1');

const apiUrl = process.env.API_URL ?? 'http://127.0.0.1:3001';
let adminKey = process.env.ADMIN_API_KEY;
if (!adminKey) {
  const file = join(process.env.DATA_DIR ?? '.data', 'admin-api-key');
  try {
    adminKey = readFileSync(file, 'utf8').trim();
  } catch {
    fail(`set ADMIN_API_KEY, or run this where the host keeps ${file}`);
  }
}

const failing = Math.round(size * failShare);
const devices = await registerFleet({
  apiUrl,
  adminKey,
  size,
  image: values.image,
  namePrefix: values.prefix,
  behaviour: (i) => (i < failing ? { failUpdate: true } : {}),
}).catch((error: unknown) => {
  const cause = unreachableCause(error);
  if (cause) fail(`cannot reach the API at ${apiUrl} (is "npm start" running?)\n  ${cause}`);
  throw error;
});
process.stdout.write(`registered ${devices.length} devices running ${values.image}${failing ? ` (${failing} will fail to update)` : ''}; polling every ${intervalMs} ms, Ctrl-C stops\n`);

const stop = startPolling(devices, intervalMs, (error) => process.stderr.write(`${String(error)}\n`));
let last = '';
const report = setInterval(() => {
  const images = new Map<string, number>();
  for (const d of devices) images.set(d.running[0]!.image, (images.get(d.running[0]!.image) ?? 0) + 1);
  const line = [...images].map(([image, n]) => `${n} on ${image}`).join(', ');
  if (line !== last) process.stdout.write(`${new Date().toISOString().slice(11, 19)}  ${line}\n`);
  last = line;
}, 1000);

process.once('SIGINT', async () => {
  clearInterval(report);
  await stop();
  process.exit(0);
});
