import { describe, expect, it } from 'vitest';
import { addressPolicy, deniedRanges, loopbackRanges, parseAllowedCidrs, privateRanges } from '../../lib/health/address-policy';

describe('addressPolicy', () => {
  it('allows addresses inside the listed IPv4 and IPv6 ranges only', () => {
    const policy = addressPolicy(['10.0.0.0/8', '192.168.1.0/24', 'fd12:3456:789a::/48', '203.0.113.7']);
    expect(policy.allows('10.1.2.3')).toBe(true);
    expect(policy.allows('192.168.1.200')).toBe(true);
    expect(policy.allows('192.168.2.1')).toBe(false);
    expect(policy.allows('fd12:3456:789a:1::5')).toBe(true);
    expect(policy.allows('FD12:3456:789A::1')).toBe(true);
    expect(policy.allows('fd12:3456:789b::1')).toBe(false);
    expect(policy.allows('203.0.113.7')).toBe(true);
    expect(policy.allows('203.0.113.8')).toBe(false);
    expect(policy.allows('8.8.8.8')).toBe(false);
  });

  it('allows nothing that is not an IP literal', () => {
    const policy = addressPolicy(['0.0.0.0/0', '::/0']);
    for (const value of ['localhost', '', '[::1]', '10.0.0.1:80', '2130706433', '010.0.0.1', '10.0.0.1/32']) {
      expect(policy.allows(value), value).toBe(false);
    }
  });

  it('denies link-local, metadata, unspecified, multicast and broadcast even when everything is listed', () => {
    const everything = addressPolicy(['0.0.0.0/0', '::/0']);
    for (const ip of [
      '169.254.169.254',
      '169.254.170.2',
      '0.0.0.0',
      '0.1.2.3',
      '224.0.0.1',
      '239.255.255.250',
      '255.255.255.255',
      '240.0.0.1',
      '::',
      'fe80::1',
      'fe80::1%eth0',
      'febf::1',
      'ff02::1',
      'fd00:ec2::254',
      'fd00:ec2::253',
    ]) {
      expect(everything.allows(ip), ip).toBe(false);
    }
    expect(everything.allows('8.8.8.8')).toBe(true);
    expect(everything.allows('2001:db8::1')).toBe(true);
    expect(everything.allows('fec0::1')).toBe(true);
  });

  it('denies the always-denied ranges even when they are listed exactly', () => {
    const policy = addressPolicy(['169.254.0.0/16', 'fe80::/10', 'fd00:ec2::254/128']);
    expect(policy.allows('169.254.169.254')).toBe(false);
    expect(policy.allows('fe80::abcd')).toBe(false);
    expect(policy.allows('fd00:ec2::254')).toBe(false);
  });

  it('judges IPv4-mapped and NAT64 IPv6 addresses as the IPv4 address they reach', () => {
    const everything = addressPolicy(['0.0.0.0/0', '::/0']);
    expect(everything.allows('::ffff:169.254.169.254')).toBe(false);
    expect(everything.allows('::ffff:a9fe:a9fe')).toBe(false);
    expect(everything.allows('64:ff9b::169.254.169.254')).toBe(false);
    expect(everything.allows('::ffff:0.0.0.0')).toBe(false);

    const tenOnly = addressPolicy(['10.0.0.0/8']);
    expect(tenOnly.allows('::ffff:10.0.0.5')).toBe(true);
    expect(tenOnly.allows('::ffff:127.0.0.1')).toBe(false);

    // An IPv6 range does not open IPv4, however the IPv4 address is written.
    const allV6 = addressPolicy(['::/0']);
    expect(allV6.allows('2001:db8::1')).toBe(true);
    expect(allV6.allows('10.0.0.5')).toBe(false);
    expect(allV6.allows('::ffff:10.0.0.5')).toBe(false);

    // A range written in IPv4-mapped form is an IPv4 range.
    const mappedRange = addressPolicy(['::ffff:10.0.0.0/104']);
    expect(mappedRange.allows('10.9.9.9')).toBe(true);
    expect(mappedRange.allows('11.0.0.1')).toBe(false);
  });

  it('allows loopback only when it is listed', () => {
    const privateOnly = addressPolicy([...privateRanges]);
    expect(privateOnly.allows('127.0.0.1')).toBe(false);
    expect(privateOnly.allows('::1')).toBe(false);
    expect(privateOnly.allows('::ffff:127.0.0.1')).toBe(false);

    const withLoopback = addressPolicy([...privateRanges, ...loopbackRanges]);
    expect(withLoopback.allows('127.0.0.1')).toBe(true);
    expect(withLoopback.allows('127.3.4.5')).toBe(true);
    expect(withLoopback.allows('::1')).toBe(true);
    expect(withLoopback.allows('::ffff:127.0.0.1')).toBe(true);
  });

  it('allows the private ranges, except AWS link services inside fc00::/7', () => {
    const policy = addressPolicy([...privateRanges]);
    expect(policy.allows('10.255.255.255')).toBe(true);
    expect(policy.allows('172.16.0.1')).toBe(true);
    expect(policy.allows('172.31.255.255')).toBe(true);
    expect(policy.allows('172.32.0.1')).toBe(false);
    expect(policy.allows('192.168.0.1')).toBe(true);
    expect(policy.allows('fc00::1')).toBe(true);
    expect(policy.allows('fdff:ffff::1')).toBe(true);
    expect(policy.allows('fd00:ec2::254')).toBe(false);
    expect(policy.allows('100.64.0.1')).toBe(false);
    expect(addressPolicy(['100.64.0.0/10']).allows('100.64.0.1')).toBe(true);
  });

  it('allows nothing with an empty list', () => {
    expect(addressPolicy([]).allows('10.0.0.1')).toBe(false);
  });

  it('names the bad entry and what is wrong with it', () => {
    expect(() => addressPolicy(['10.0.0.0/8', 'not-a-cidr'])).toThrow(/"not-a-cidr".*not an IPv4 or IPv6 address/);
    expect(() => addressPolicy(['10.0.0.0/33'])).toThrow(/"10\.0\.0\.0\/33".*longer than 32 bits/);
    expect(() => addressPolicy(['fd00::/129'])).toThrow(/"fd00::\/129".*longer than 128 bits/);
    expect(() => addressPolicy(['10.0.0.0/abc'])).toThrow(/"10\.0\.0\.0\/abc".*not a number/);
    expect(() => addressPolicy(['10.0.0.0/8/8'])).toThrow(/more than one/);
    expect(() => addressPolicy(['256.0.0.0/8'])).toThrow(/"256\.0\.0\.0\/8"/);
    expect(() => addressPolicy(['fe80::/10%eth0'])).toThrow(/"fe80::\/10%eth0"/);
    expect(() => addressPolicy(['10.1.2.3/8'])).toThrow(/host bits are set \(did you mean 10\.0\.0\.0\/8\?\)/);
    expect(() => addressPolicy(['fd12:3456::1/32'])).toThrow(/did you mean fd12:3456::\/32\?/);
  });

  it('exposes its deny list, which parses', () => {
    expect(deniedRanges).toContain('169.254.0.0/16');
    expect(deniedRanges).toContain('fd00:ec2::/32');
    expect(() => addressPolicy([...deniedRanges])).not.toThrow();
  });
});

describe('parseAllowedCidrs', () => {
  it('reads a comma-separated setting, trimming blanks', () => {
    expect(parseAllowedCidrs(' 10.0.0.0/8, fd00::/8 ,,', privateRanges)).toEqual(['10.0.0.0/8', 'fd00::/8']);
  });

  it('falls back when unset or blank', () => {
    expect(parseAllowedCidrs(undefined, privateRanges)).toEqual([...privateRanges]);
    expect(parseAllowedCidrs('  ', loopbackRanges)).toEqual([...loopbackRanges]);
  });

  it('fails on a bad entry, naming it', () => {
    expect(() => parseAllowedCidrs('10.0.0.0/8,10.0.0/8', [])).toThrow(/"10\.0\.0\/8"/);
  });
});
