/**
 * Which addresses a health check may connect to. Targets are built from admin config plus
 * device-reported data, so without this a policy or a device could point the prober at the cloud
 * metadata service or anything else on the prober's network. An address must be inside an allowed
 * range and outside the ranges that are denied whatever the allow list says.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface AddressPolicy {
  /** `ip` is an IPv4 or IPv6 literal; anything else is not allowed. */
  allows(ip: string): boolean;
}

export const privateRanges: readonly string[] = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'];

export const loopbackRanges: readonly string[] = ['127.0.0.0/8', '::1/128'];

/**
 * Never reachable by a health check. Carrier-grade NAT (100.64.0.0/10) is not here: cellular
 * devices live there, so an admin may list it.
 */
export const deniedRanges: readonly string[] = [
  // On Linux a connection to 0.0.0.0 reaches the local host.
  '0.0.0.0/8',
  // Link-local, home of the instance and ECS task metadata services.
  '169.254.0.0/16',
  '224.0.0.0/4',
  // Reserved, including the broadcast address.
  '240.0.0.0/4',
  '::/128',
  'fe80::/10',
  'ff00::/8',
  // AWS's IPv6 link services: metadata (::254), DNS (::253), time (::123). Not a range devices use.
  'fd00:ec2::/32',
];

type Family = 4 | 6;

interface Address {
  family: Family;
  value: bigint;
}

interface Cidr extends Address {
  prefix: number;
}

const bits: Record<Family, number> = { 4: 32, 6: 128 };

// IPv6 forms that carry an IPv4 address the connection really goes to: IPv4-mapped (::ffff:0:0/96)
// and the NAT64 well-known prefix (64:ff9b::/96). Judging them as IPv6 would let ::ffff:169.254.169.254 through.
const embeddingPrefixes = [0xffffn, 0x64ff9bn << 64n];

function parseIPv4(text: string): bigint {
  return text.split('.').reduce((value, octet) => (value << 8n) | BigInt(Number(octet)), 0n);
}

/** Expects text that `isIPv6` accepted, without a zone. */
function parseIPv6(text: string): bigint {
  const groups = (part: string): bigint[] =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [BigInt(parseInt(group, 16))];
          const v4 = parseIPv4(group);
          return [v4 >> 16n, v4 & 0xffffn];
        });
  const [head = '', tail] = text.split('::');
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...new Array<bigint>(8 - left.length - right.length).fill(0n), ...right];
  return all.reduce((value, group) => (value << 16n) | group, 0n);
}

function parseAddress(text: string): Address | undefined {
  if (isIPv4(text)) return { family: 4, value: parseIPv4(text) };
  if (!isIPv6(text)) return undefined;
  const value = parseIPv6(text.split('%')[0]!);
  if (embeddingPrefixes.includes(value >> 32n)) return { family: 4, value: value & 0xffffffffn };
  return { family: 6, value };
}

function formatAddress({ family, value }: Address): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((shift) => (value >> shift) & 0xffn).join('.');
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((shift) => (value >> shift) & 0xffffn);
  // RFC 5952: compress the longest run of two or more zero groups.
  let best = { start: -1, length: 1 };
  for (let start = 0; start < 8; start++) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0n) length++;
    if (length > best.length) best = { start, length };
  }
  const hex = groups.map((group) => group.toString(16));
  if (best.start < 0) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`;
}

function mask(family: Family, prefix: number): bigint {
  const width = BigInt(bits[family]);
  return ((1n << width) - 1n) ^ ((1n << (width - BigInt(prefix))) - 1n);
}

/** A range such as `10.0.0.0/8` or `fd00::/8`; a bare address is a single-address range. */
function parseCidr(entry: string): Cidr {
  const text = entry.trim();
  const fail = (why: string): never => {
    throw new Error(`invalid CIDR "${entry}" in the health-check address allow list: ${why}`);
  };
  const [addressText = '', prefixText, ...extra] = text.split('/');
  if (extra.length > 0) fail('more than one "/"');
  if (addressText.includes('%')) fail('a zone id is not allowed');
  const address = isIPv4(addressText)
    ? { family: 4 as const, value: parseIPv4(addressText) }
    : isIPv6(addressText)
      ? { family: 6 as const, value: parseIPv6(addressText) }
      : fail(`"${addressText}" is not an IPv4 or IPv6 address`);
  const width = bits[address.family];
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) fail(`prefix "${prefixText}" is not a number`);
  const prefix = prefixText === undefined ? width : Number(prefixText);
  if (prefix > width) fail(`prefix /${prefix} is longer than ${width} bits`);
  const cidr: Cidr = { ...address, prefix };
  if ((cidr.value & mask(cidr.family, prefix)) !== cidr.value) {
    const network = formatAddress({ family: cidr.family, value: cidr.value & mask(cidr.family, prefix) });
    fail(`host bits are set (did you mean ${network}/${prefix}?)`);
  }
  // Addresses in an IPv4-embedding prefix are judged as IPv4, so a range written that way must be too.
  if (cidr.family === 6 && prefix >= 96 && embeddingPrefixes.includes(cidr.value >> 32n)) {
    return { family: 4, value: cidr.value & 0xffffffffn, prefix: prefix - 96 };
  }
  return cidr;
}

function contains(range: Cidr, address: Address): boolean {
  return range.family === address.family && (address.value & mask(range.family, range.prefix)) === range.value;
}

const denied = deniedRanges.map(parseCidr);

/**
 * Throws an error naming the first bad entry. IPv6 ranges never match IPv4 addresses (nor their
 * IPv4-mapped forms): `::/0` allows all of IPv6 but no IPv4.
 */
export function addressPolicy(allowedCidrs: readonly string[]): AddressPolicy {
  const allowed = allowedCidrs.map(parseCidr);
  return {
    allows(ip: string): boolean {
      const address = parseAddress(ip);
      if (!address || denied.some((range) => contains(range, address))) return false;
      return allowed.some((range) => contains(range, address));
    },
  };
}

/**
 * The allow list from a comma-separated setting such as `10.0.0.0/8, fd12:3456::/48`; unset or
 * blank means `fallback`. Entries are checked here so a bad setting fails at start.
 */
export function parseAllowedCidrs(value: string | undefined, fallback: readonly string[]): string[] {
  const entries = (value ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  const cidrs = entries.length > 0 ? entries : [...fallback];
  cidrs.forEach(parseCidr);
  return cidrs;
}
