/**
 * Where notifications may be sent. A subscription's URL is admin input, and the delivering
 * function runs inside the deployment's network, so destinations go through the health checks'
 * address policy (lib/health/address-policy.ts): link-local and metadata addresses never, and
 * only the ranges `NOTIFICATION_ALLOWED_CIDRS` lists. A literal address is judged when the
 * subscription is created; a host name after each resolution, right before connecting
 * (lib/notifications/deliver.ts), so a name that later resolves elsewhere is still refused.
 */
import { isIP } from 'node:net';
import { Invalid } from '../errors';
import type { AddressPolicy } from '../health/address-policy';

/**
 * Unicast IPv4 but loopback (on AWS, loopback would reach the Lambda runtime API), global IPv6
 * and unique-local IPv6. The denied ranges (link-local, metadata, multicast…) are refused whatever
 * is listed. Receivers are usually public (Slack, chat and paging services), unlike devices.
 */
export const notificationDefaultRanges: readonly string[] = [
  '0.0.0.0/2',
  '64.0.0.0/3',
  '96.0.0.0/4',
  '112.0.0.0/5',
  '120.0.0.0/6',
  '124.0.0.0/7',
  '126.0.0.0/8',
  '128.0.0.0/1',
  '2000::/3',
  'fc00::/7',
];

export const maxUrlLength = 2048;

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** The URL, parsed, or an Invalid naming what is wrong with it. */
export function checkDestination(raw: string, policy: AddressPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Invalid(`url must be an absolute http(s) URL, got "${raw.slice(0, 200)}"`, { issues: [{ path: 'url', message: 'must be an absolute http(s) URL' }] });
  }
  const refuse = (message: string) => new Invalid(`url ${message}`, { issues: [{ path: 'url', message }] });
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw refuse(`must be http or https, not ${url.protocol.replace(/:$/, '')}`);
  if (url.username !== '' || url.password !== '') throw refuse('must not carry credentials; the receiver verifies the signature instead');
  const host = unbracket(url.hostname);
  if (host === '') throw refuse('must name a host');
  if (isIP(host) !== 0 && !policy.allows(host)) throw refuse(`names address ${host}, which notifications may not reach (link-local and metadata addresses never; see NOTIFICATION_ALLOWED_CIDRS)`);
  return url;
}
