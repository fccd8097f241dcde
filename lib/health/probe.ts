/**
 * Health probes for devices that have just updated: an HTTP request, a TCP connect, or a look at
 * the container state the device reported. A probe never throws for a problem with the target;
 * it answers unhealthy with a reason an operator can act on.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net, { isIP, type LookupFunction } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HealthCheckConfig, ReportedApp } from '../domain/types';
import { observeLatency } from '../metrics';
import type { AddressPolicy } from './address-policy';

export interface ProbeTarget {
  device: { uuid: string; name: string; ip_address: string | null; current_apps: ReportedApp[] };
  /** The app of the rollout. */
  app: string;
  /** The image the device should now run for `app`. */
  expectedImage: string;
}

export interface ProbeResult {
  healthy: boolean;
  reason: string;
  /** At least 1: a check that could not even start counts as one failed attempt. */
  attempts: number;
  /** Wall time of the whole probe, retry delays included. */
  duration_ms: number;
}

export interface ProbeOptions {
  policy: AddressPolicy;
  /** Pause between attempts; 1000 unless given. */
  retryDelayMs?: number;
}

export const defaultTimeoutSeconds = 10;
export const defaultRetries = 2;
const defaultRetryDelayMs = 1000;
const maxBodyBytes = 64 * 1024;

/** One attempt's outcome; `final` when trying again cannot change it. */
interface Outcome {
  healthy: boolean;
  reason: string;
  final?: boolean;
}

const unhealthy = (reason: string, final = false): Outcome => ({ healthy: false, reason, final });

export class AddressNotAllowed extends Error {}

function notAllowed(address: string): AddressNotAllowed {
  return new AddressNotAllowed(`address ${address} is not allowed for health checks`);
}

export async function probeHealth(config: HealthCheckConfig, target: ProbeTarget, options: ProbeOptions): Promise<ProbeResult> {
  const started = performance.now();
  let attempts = 1;
  const result = (outcome: Outcome): ProbeResult => {
    const durationMs = performance.now() - started;
    // Every probe run, a redelivered health message's too: each is a real probe of a device.
    observeLatency('HealthCheckLatency', durationMs);
    return { healthy: outcome.healthy, reason: outcome.reason, attempts, duration_ms: Math.round(durationMs) };
  };
  try {
    const attempt = prepare(config, target, options.policy);
    if (typeof attempt !== 'function') return result(attempt);
    const retries = config.retries ?? defaultRetries;
    for (;;) {
      const outcome = await attempt();
      if (outcome.healthy || outcome.final || attempts > retries) return result(outcome);
      await sleep(options.retryDelayMs ?? defaultRetryDelayMs);
      attempts++;
    }
  } catch (error) {
    return result(unhealthy(`health check failed: ${error instanceof Error ? error.message : String(error)}`));
  }
}

/**
 * Probes every target with at most `concurrency` probes in flight. Results are in the order of
 * `targets`, and the promise never rejects.
 */
export async function probeAll(config: HealthCheckConfig, targets: ProbeTarget[], options: ProbeOptions & { concurrency: number }): Promise<ProbeResult[]> {
  const results = new Array<ProbeResult>(targets.length);
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const index = next++;
      results[index] = await probeHealth(config, targets[index]!, options).catch((error: unknown) => ({
        healthy: false,
        reason: `health check failed: ${error instanceof Error ? error.message : String(error)}`,
        attempts: 1,
        duration_ms: 0,
      }));
    }
  };
  const workers = Math.max(1, Math.min(targets.length, Math.floor(options.concurrency) || 1));
  await Promise.all(Array.from({ length: workers }, worker));
  return results;
}

/** The repeatable attempt for a target, or the outcome when there is nothing to attempt. */
function prepare(config: HealthCheckConfig, target: ProbeTarget, policy: AddressPolicy): Outcome | (() => Promise<Outcome>) {
  const timeoutSeconds = config.timeout ?? defaultTimeoutSeconds;
  switch (config.type) {
    case 'container':
      // The reported state is a snapshot: asking it again gives the same answer.
      return containerOutcome(config.containerName, target);
    case 'http': {
      const endpoint = expand(config.endpoint, target.device, 'url');
      if (typeof endpoint !== 'string') return endpoint;
      let url: URL;
      try {
        url = new URL(endpoint);
      } catch {
        return unhealthy(`endpoint ${endpoint} is not a valid URL`, true);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return unhealthy(`endpoint ${endpoint} is not http or https`, true);
      const refused = literalRefused(unbracket(url.hostname), policy);
      if (refused) return refused;
      return () => httpAttempt(url, config.expectedStatusCode ?? 200, config.expectedBody, timeoutSeconds, policy);
    }
    case 'tcp': {
      const expanded = expand(config.host, target.device, 'host');
      if (typeof expanded !== 'string') return expanded;
      const host = unbracket(expanded);
      if (isIP(host) === 0 && !/^[A-Za-z0-9_.-]{1,253}$/.test(host)) return unhealthy(`host "${host}" is not an IP address or host name`, true);
      const refused = literalRefused(host, policy);
      if (refused) return refused;
      return () => tcpAttempt(host, config.port, timeoutSeconds, policy);
    }
    default:
      return unhealthy(`unsupported health check type "${(config as { type: unknown }).type}"`, true);
  }
}

function containerOutcome(containerName: string, target: ProbeTarget): Outcome {
  const app = target.device.current_apps.find((a) => a.name === containerName);
  if (!app) return unhealthy(`container ${containerName} is not reported by the device`, true);
  if (app.status.toLowerCase() !== 'running') return unhealthy(`container ${containerName} status is ${app.status}`, true);
  // The expected image is the rollout app's; another container named in the check may run anything.
  if (containerName === target.app && app.image !== target.expectedImage) {
    return unhealthy(`container ${containerName} runs image ${app.image} instead of ${target.expectedImage}`, true);
  }
  return { healthy: true, reason: `container ${containerName} is running ${app.image}` };
}

/**
 * Fills `{device_ip}` and `{device_name}`. The ip must be a plain IP literal (it is device-reported
 * and ends up as a host); in a URL an IPv6 ip is bracketed and the name is percent-encoded.
 */
function expand(template: string, device: ProbeTarget['device'], into: 'url' | 'host'): string | Outcome {
  let value = template;
  if (value.includes('{device_ip}')) {
    const ip = device.ip_address;
    if (!ip) return unhealthy('device has no ip_address', true);
    const family = isIP(ip);
    if (family === 0 || ip.includes('%')) return unhealthy(`device ip_address "${ip}" is not a plain IP address`, true);
    const host = family === 6 && into === 'url' ? `[${ip}]` : ip;
    value = value.replaceAll('[{device_ip}]', '{device_ip}').replaceAll('{device_ip}', host);
  }
  return value.replaceAll('{device_name}', into === 'url' ? encodeURIComponent(device.name) : device.name);
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** An IP-literal host is judged before connecting, as the connection will not look it up. */
function literalRefused(host: string, policy: AddressPolicy): Outcome | undefined {
  if (isIP(host) !== 0 && !policy.allows(host)) return unhealthy(notAllowed(host).message, true);
  return undefined;
}

/**
 * Resolves a host name and hands the connection only the addresses the policy allows, so what is
 * checked is what is connected to: a second resolution cannot swap in another address (DNS rebinding).
 */
export function guardedLookup(policy: AddressPolicy, purpose = 'health checks'): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '');
      let allowed: LookupAddress[];
      try {
        allowed = addresses.filter((a) => policy.allows(a.address));
      } catch (policyError) {
        return callback(policyError as Error, '');
      }
      const first = allowed[0];
      if (!first) {
        const resolved = addresses.map((a) => a.address).join(', ');
        return callback(new AddressNotAllowed(`host ${hostname} resolves to ${resolved}, not allowed for ${purpose}`), '');
      }
      if (options.all) callback(null, allowed);
      else callback(null, first.address, first.family);
    });
  };
}

function withDeadline(timeoutSeconds: number, run: (done: (outcome: Outcome) => void) => () => void): Promise<Outcome> {
  return new Promise((resolve) => {
    let settled = false;
    let cleanup = () => {};
    const done = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      cleanup();
      resolve(outcome);
    };
    const timer = setTimeout(() => done(unhealthy(`timed out after ${timeoutSeconds} s`)), timeoutSeconds * 1000);
    cleanup = run(done);
  });
}

function httpAttempt(url: URL, expectedStatus: number, expectedBody: string | undefined, timeoutSeconds: number, policy: AddressPolicy): Promise<Outcome> {
  const shown = new URL(url);
  shown.username = '';
  shown.password = '';
  const client = url.protocol === 'https:' ? https : http;
  return withDeadline(timeoutSeconds, (done) => {
    // No agent: each attempt gets a fresh connection, so a retry is a real new try.
    const request = client.request(url, { method: 'GET', agent: false, lookup: guardedLookup(policy), headers: { accept: '*/*', 'user-agent': 'fleet-rollout-health-check' } });
    request.on('error', (error) => done(errorOutcome(error)));
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      if (status !== expectedStatus) return done(unhealthy(`HTTP ${status} from ${shown.href} (expected ${expectedStatus})`));
      if (expectedBody === undefined) return done({ healthy: true, reason: `HTTP ${status} from ${shown.href}` });
      const needle = Buffer.from(expectedBody);
      const chunks: Buffer[] = [];
      let size = 0;
      const judge = (truncated: boolean, ended: boolean) => {
        const body = Buffer.concat(chunks).subarray(0, maxBodyBytes);
        if (body.includes(needle)) return done({ healthy: true, reason: `HTTP ${status} from ${shown.href} with "${expectedBody}" in the body` });
        if (!ended) return done(unhealthy(`response from ${shown.href} ended before its body was complete`));
        done(unhealthy(`body does not contain "${expectedBody}"${truncated ? ` in its first ${maxBodyBytes / 1024} KiB` : ''}`));
      };
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= maxBodyBytes) judge(size > maxBodyBytes, true);
      });
      response.on('end', () => judge(false, true));
      response.on('error', () => judge(false, false));
      response.on('close', () => judge(false, response.complete));
    });
    request.end();
    return () => request.destroy();
  });
}

function tcpAttempt(host: string, port: number, timeoutSeconds: number, policy: AddressPolicy): Promise<Outcome> {
  return withDeadline(timeoutSeconds, (done) => {
    const socket = net.connect({ host, port, lookup: guardedLookup(policy) });
    socket.on('connect', () => done({ healthy: true, reason: `port ${port} is open on ${host} (${socket.remoteAddress})` }));
    socket.on('error', (error) => done(errorOutcome(error)));
    return () => socket.destroy();
  });
}

const errorReasons: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'connection closed while sending',
};

function errorOutcome(error: Error): Outcome {
  if (error instanceof AddressNotAllowed) return unhealthy(error.message, true);
  // With several addresses Node tries each and reports them together; the first says enough.
  const first = (error instanceof AggregateError ? error.errors[0] : error) as NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string };
  const code = first.code ?? '';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return unhealthy(`cannot resolve host ${first.hostname ?? ''}${code === 'EAI_AGAIN' ? ' (temporary DNS failure)' : ''}`.trim());
  if (first.message === 'socket hang up') return unhealthy('connection closed without a response');
  const reason = errorReasons[code];
  if (reason) return unhealthy(first.address ? `${reason} by ${first.address}:${first.port}` : reason);
  if (code.includes('CERT') || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL')) return unhealthy(`TLS: ${first.message}`);
  return unhealthy(first.message || code || 'connection failed');
}
