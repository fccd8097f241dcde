/**
 * Property tests of the health-check address policy (issue 9): however the metadata and
 * link-local addresses are written, no allow list lets them through; every address inside an
 * allowed range is allowed (outside the always-denied ones); and no input makes it throw.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressPolicy, deniedRanges, loopbackRanges, parseAllowedCidrs, privateRanges } from '../../lib/health/address-policy';
import { anyString } from './arbitraries';
import { fuzzParameters, fuzzRuns, timeoutFor } from './runs';

const runs = fuzzRuns(500);

const hex = (value: number, width = 0) => value.toString(16).padStart(width, '0');

/** An IPv4 address written every way a person, a resolver or an attacker might. */
function ipv4Forms([a, b, c, d]: readonly number[]): string[] {
  const value = ((a! << 24) >>> 0) + (b! << 16) + (c! << 8) + d!;
  const dotted = `${a}.${b}.${c}.${d}`;
  const high = hex((a! << 8) + b!);
  const low = hex((c! << 8) + d!);
  return [
    dotted,
    `::ffff:${dotted}`,
    `::FFFF:${dotted}`,
    `::ffff:${high}:${low}`,
    `0:0:0:0:0:ffff:${high}:${low}`,
    `0000:0000:0000:0000:0000:ffff:${hex((a! << 8) + b!, 4)}:${hex((c! << 8) + d!, 4)}`,
    `::ffff:${dotted}%eth0`,
    `64:ff9b::${dotted}`,
    `64:ff9b::${high}:${low}`,
    `[${dotted}]`,
    `[::ffff:${dotted}]`,
    String(value),
    `0x${hex(value)}`,
    `0x${hex(value, 8).toUpperCase()}`,
    [a, b, c, d].map((octet) => `0${octet!.toString(8)}`).join('.'),
    [a, b, c, d].map((octet) => `0x${hex(octet!)}`).join('.'),
    [a, b, c, d].map((octet) => String(octet).padStart(3, '0')).join('.'),
    `${a}.${(b! << 16) + (c! << 8) + d!}`,
    `${a}.${b}.${(c! << 8) + d!}`,
    `${dotted}.`,
    ` ${dotted}`,
    `${dotted}:80`,
    `http://${dotted}/`,
  ];
}

const octet = fc.integer({ min: 0, max: 255 });
const linkLocal = fc.tuple(octet, octet).map(([c, d]) => [169, 254, c, d] as const);

/** fd00:ec2::/32 (AWS's metadata, DNS and time over IPv6) written in long, short and odd forms. */
const awsIpv6 = fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff })).map(([g, h]) => [
  `fd00:ec2::${hex(g)}:${hex(h)}`,
  `FD00:EC2:0:0:0:0:${hex(g)}:${hex(h)}`,
  `fd00:0ec2:0000:0000:0000:0000:${hex(g, 4)}:${hex(h, 4)}`,
  `fd00:ec2::${hex(h)}`,
  `fd00:ec2::${hex(h)}%1`,
  `[fd00:ec2::${hex(h)}]`,
]);

/** Allow lists up to everything there is. */
const generousLists: readonly (readonly string[])[] = [
  ['0.0.0.0/0', '::/0'],
  ['169.254.0.0/16', 'fd00:ec2::/32', 'fe80::/10'],
  ['::ffff:0:0/96', '64:ff9b::/96'],
  ['::ffff:169.254.0.0/112'],
  [...loopbackRanges, ...privateRanges],
];

interface Range {
  family: 4 | 6;
  value: bigint;
  prefix: number;
}

/** A range written as text, for the allow list; also checked here independently of the module. */
const bits = (family: 4 | 6) => (family === 4 ? 32 : 128);
const maskOf = (family: 4 | 6, prefix: number) => ((1n << BigInt(bits(family))) - 1n) ^ ((1n << BigInt(bits(family) - prefix)) - 1n);

function formatValue(family: 4 | 6, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
  return [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((shift) => ((value >> shift) & 0xffffn).toString(16)).join(':');
}

function rangeOf(text: string): Range {
  const [address = '', prefix] = text.split('/');
  if (address.includes('.') && !address.includes(':')) {
    const value = address.split('.').reduce((v, part) => (v << 8n) | BigInt(part), 0n);
    return { family: 4, value, prefix: prefix === undefined ? 32 : Number(prefix) };
  }
  const [head = '', tail] = address.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => BigInt(parseInt(g, 16))));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...new Array<bigint>(8 - left.length - right.length).fill(0n), ...right];
  return { family: 6, value: all.reduce((v, g) => (v << 16n) | g, 0n), prefix: prefix === undefined ? 128 : Number(prefix) };
}

const inRange = (range: Range, family: 4 | 6, value: bigint) => range.family === family && (value & maskOf(family, range.prefix)) === range.value;
const denied = deniedRanges.map(rangeOf);

/** A range no wider than /8 (IPv4) or /16 (IPv6), and an address inside it. */
const rangeAndMember = fc
  .tuple(fc.constantFrom<4 | 6>(4, 6), fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), fc.nat())
  .map(([family, base, offset, p]) => {
    const width = bits(family);
    const prefix = (family === 4 ? 8 : 16) + (p % (width - (family === 4 ? 8 : 16) + 1));
    const all = (1n << BigInt(width)) - 1n;
    const network = base & all & maskOf(family, prefix);
    const member = network | (offset & all & ~maskOf(family, prefix));
    return { family, cidr: `${formatValue(family, network)}/${prefix}`, member, text: formatValue(family, member) };
  });

describe('health-check address policy', { timeout: timeoutFor(runs * 3, 10) }, () => {
  it('never allows 169.254.0.0/16, however it is written and whatever the allow list', () => {
    const policies = generousLists.map((list) => addressPolicy(list));
    fc.assert(
      fc.property(linkLocal, (address) => {
        for (const form of ipv4Forms(address)) for (const policy of policies) expect(policy.allows(form), form).toBe(false);
      }),
      fuzzParameters(runs),
    );
  });

  it('never allows fd00:ec2::/32, however it is written and whatever the allow list', () => {
    const policies = generousLists.map((list) => addressPolicy(list));
    fc.assert(
      fc.property(awsIpv6, (forms) => {
        for (const form of forms) for (const policy of policies) expect(policy.allows(form), form).toBe(false);
      }),
      fuzzParameters(runs),
    );
  });

  it('allows only plain literals: the other spellings of an allowed IPv4 address are refused, not guessed at', () => {
    const everything = addressPolicy(['0.0.0.0/0', '::/0']);
    fc.assert(
      fc.property(fc.tuple(fc.integer({ min: 1, max: 223 }), octet, octet, octet).filter(([a, b]) => a !== 127 && a !== 169 && !(a === 0) && !(a === 10) && !(a === 172 && b >= 16 && b < 32) && !(a === 192 && b === 168)), (address) => {
        const [dotted, mapped, mappedUpper, mappedHex, expanded, padded, zoned, nat64, nat64Hex, ...others] = ipv4Forms(address);
        for (const literal of [dotted, mapped, mappedUpper, mappedHex, expanded, padded, zoned, nat64, nat64Hex]) expect(everything.allows(literal!), literal).toBe(true);
        // (Zero-padded octets of 100 and more are the dotted form itself.)
        for (const other of others.filter((form) => form !== dotted)) expect(everything.allows(other), other).toBe(false);
      }),
      fuzzParameters(runs),
    );
  });

  it('allows every address inside an allowed range that is not always denied', () => {
    fc.assert(
      fc.property(rangeAndMember, ({ family, cidr, member, text }) => {
        const policy = addressPolicy([cidr]);
        const isDenied = denied.some((range) => inRange(range, family, member));
        // An allowed IPv6 range holds no IPv4 addresses, so its IPv4-mapped members are judged as IPv4.
        const embedsIPv4 = family === 6 && ((member >> 32n) === 0xffffn || (member >> 32n) === 0x64ff9bn << 64n);
        if (!embedsIPv4) expect(policy.allows(text), `${text} in ${cidr}`).toBe(!isDenied);
        if (family === 4) expect(policy.allows(`::ffff:${text}`), `::ffff:${text} in ${cidr}`).toBe(!isDenied);
      }),
      fuzzParameters(runs),
    );
  });

  it('takes any string without throwing, and allow lists are accepted or refused with a message naming the entry', () => {
    const policy = addressPolicy(['0.0.0.0/0', '::/0']);
    fc.assert(
      fc.property(anyString, (text) => {
        expect(typeof policy.allows(text)).toBe('boolean');
        try {
          parseAllowedCidrs(text, []);
        } catch (error) {
          expect(error).toBeInstanceOf(Error);
          expect((error as Error).message).toMatch(/^invalid CIDR /);
        }
      }),
      fuzzParameters(runs),
    );
  });
});
