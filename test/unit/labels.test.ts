/** Device labels and policy targeting as rules: what a label may be, what matches, the batch-order groups. */
import { describe, expect, it } from 'vitest';
import { batchGroupOf, contradiction, isLabelKey, isLabelValue, matchesSelector, mergeLabels, parseLabelFilter, type Labels, type Selector } from '../../lib/domain/labels';
import { devicePatchSchema, deviceRegistrationSchema, labelFilterOf, stateReportSchema } from '../../lib/devices';
import { Invalid } from '../../lib/errors';
import { labelsSchema } from '../../lib/labels';
import { policyInputSchema } from '../../lib/policies';
import { validate } from '../../lib/validation';

/** The message a refused value gets, or undefined when it is accepted. */
function refusal(schema: Parameters<typeof validate>[0], value: unknown): string | undefined {
  try {
    validate(schema, value);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(Invalid);
    return (error as Error).message;
  }
}

describe('label keys and values', () => {
  it.each(['ring', 'a', 'Ring2', 'app.example.com/tier', 'x_y-z', 'a'.repeat(63)])('accepts the key %s', (key) => {
    expect(isLabelKey(key)).toBe(true);
  });

  it.each(['', '-ring', 'ring-', '_x', 'a b', 'ring:x', 'x=y', 'é', 'a'.repeat(64), '__proto__'])('refuses the key %j', (key) => {
    expect(isLabelKey(key)).toBe(false);
  });

  it.each(['', 'canary', 'v1.2.3', 'eu/west-1', 'a'.repeat(63)])('accepts the value %j', (value) => {
    expect(isLabelValue(value)).toBe(true);
  });

  it.each(['-x', 'x.', ' ', 'a,b', 'a'.repeat(64)])('refuses the value %j', (value) => {
    expect(isLabelValue(value)).toBe(false);
  });
});

describe('the labels schema', () => {
  it('takes a map of labels and names each bad key and value', () => {
    expect(validate(labelsSchema, { ring: 'canary', constructor: 'x' })).toEqual({ ring: 'canary', constructor: 'x' });
    const message = refusal(deviceRegistrationSchema, { name: 'd', apps: [{ name: 'main', image: 'acme/app:1' }], labels: { 'Ring!': 'x', site: '-berlin', tier: 1 } })!;
    expect(message).toMatch(/labels\.Ring! is not a label key/);
    expect(message).toMatch(/labels\.site must be at most 63 letters/);
    expect(message).toMatch(/labels\.tier must be a string/);
  });

  it('refuses __proto__ rather than dropping it', () => {
    // JSON.parse makes __proto__ an own key, as a request body would have it.
    expect(refusal(labelsSchema, JSON.parse('{"__proto__":"x"}'))).toMatch(/^__proto__ is not a label key/);
    expect(refusal(stateReportSchema, JSON.parse('{"apps":[],"labels":{"__proto__":{"polluted":"yes"}}}'))).toMatch(/labels\.__proto__ is not a label key/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('takes at most 32 labels', () => {
    const labels = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
    expect(refusal(labelsSchema, labels(32))).toBeUndefined();
    expect(refusal(labelsSchema, labels(33))).toMatch(/must have at most 32 labels/);
  });
});

describe('matching a selector', () => {
  it('needs every key of the selector, with its value', () => {
    expect(matchesSelector({ ring: 'canary', site: 'berlin' }, { site: 'berlin' })).toBe(true);
    expect(matchesSelector({ ring: 'canary', site: 'berlin' }, { site: 'berlin', ring: 'canary' })).toBe(true);
    expect(matchesSelector({ ring: 'canary' }, { site: 'berlin' })).toBe(false);
    expect(matchesSelector({ site: 'paris' }, { site: 'berlin' })).toBe(false);
    expect(matchesSelector({ ring: '' }, { ring: '' })).toBe(true);
    expect(matchesSelector({}, { ring: '' })).toBe(false);
  });

  it('matches every device, also one without labels, with the empty selector', () => {
    expect(matchesSelector(undefined, {})).toBe(true);
    expect(matchesSelector({ a: 'b' }, {})).toBe(true);
    expect(matchesSelector(undefined, { a: 'b' })).toBe(false);
  });

  it('never matches through Object.prototype', () => {
    expect(matchesSelector({}, { constructor: 'function Object() { [native code] }' })).toBe(false);
    expect(matchesSelector({}, { toString: '' })).toBe(false);
    expect(matchesSelector({ constructor: 'x' }, { constructor: 'x' })).toBe(true);
  });
});

describe('batch-order groups', () => {
  const order: Selector[] = [{ ring: 'canary' }, { ring: 'beta' }, { site: 'berlin' }];

  it('puts a device in the group of the first entry it matches, the rest after the last', () => {
    expect(batchGroupOf({ ring: 'canary', site: 'berlin' }, order)).toBe(0);
    expect(batchGroupOf({ ring: 'beta' }, order)).toBe(1);
    expect(batchGroupOf({ ring: 'beta', site: 'berlin' }, order)).toBe(1);
    expect(batchGroupOf({ site: 'berlin' }, order)).toBe(2);
    expect(batchGroupOf({ ring: 'stable', site: 'paris' }, order)).toBe(3);
    expect(batchGroupOf(undefined, order)).toBe(3);
  });

  it('has one group, the rest, without a batch order', () => {
    expect(batchGroupOf({ ring: 'canary' }, [])).toBe(0);
    expect(batchGroupOf(undefined, [])).toBe(0);
  });

  it('orders a fleet group by group, keeping the listed order within a group', () => {
    const fleet: { id: string; labels: Labels | undefined }[] = [
      { id: 'a', labels: { ring: 'stable' } },
      { id: 'b', labels: { ring: 'beta' } },
      { id: 'c', labels: { ring: 'canary' } },
      { id: 'd', labels: undefined },
      { id: 'e', labels: { ring: 'canary' } },
      { id: 'f', labels: { site: 'berlin', ring: 'beta' } },
    ];
    // What planning's passes produce: pass g takes, in listed order, the devices of group g.
    const planned = [0, 1, 2, 3].flatMap((group) => fleet.filter((d) => batchGroupOf(d.labels, order) === group).map((d) => d.id));
    expect(planned).toEqual(['c', 'e', 'b', 'f', 'a', 'd']);
  });
});

describe('merge patches of labels', () => {
  it('sets the keys with a value, removes the keys with null, keeps the rest', () => {
    expect(mergeLabels({ ring: 'canary', site: 'berlin', tier: '1' }, { ring: 'beta', site: null, zone: 'a' })).toEqual({ ring: 'beta', tier: '1', zone: 'a' });
    expect(mergeLabels(undefined, { ring: 'beta', gone: null })).toEqual({ ring: 'beta' });
    expect(mergeLabels({ ring: 'canary' }, {})).toEqual({ ring: 'canary' });
  });

  it('is a body with at least one field', () => {
    expect(refusal(devicePatchSchema, {})).toBe('body must have at least one of name, ip_address, labels');
    expect(refusal(devicePatchSchema, { labels: { ring: null } })).toBeUndefined();
    expect(refusal(devicePatchSchema, { ip_address: null })).toBeUndefined();
    expect(refusal(devicePatchSchema, { uuid: 'x', name: 'n' })).toBe('uuid is not a known field');
    expect(refusal(devicePatchSchema, { labels: { 'bad key': 'x' } })).toMatch(/^labels\.bad key is not a label key/);
  });
});

describe('the list filter', () => {
  it('reads key:value, splitting at the first colon', () => {
    expect(parseLabelFilter('ring:canary')).toEqual({ key: 'ring', value: 'canary' });
    expect(parseLabelFilter('ring:')).toEqual({ key: 'ring', value: '' });
    expect(labelFilterOf(['ring:canary', 'site:berlin', 'ring:canary'])).toEqual({ ring: 'canary', site: 'berlin' });
    expect(labelFilterOf([])).toEqual({});
  });

  it('names what is wrong with a malformed one', () => {
    expect(parseLabelFilter('ring')).toEqual({ problem: '"ring" must be key:value, e.g. ring:canary' });
    expect(parseLabelFilter('Ring!:x')).toMatchObject({ problem: expect.stringMatching(/the key must be/) });
    expect(parseLabelFilter('ring:a:b')).toMatchObject({ problem: expect.stringMatching(/the value must be/) });
    expect(() => labelFilterOf(['ring:canary', 'ring:beta'])).toThrow(/ring is asked for twice/);
    expect(() => labelFilterOf(['ring'])).toThrow(Invalid);
  });
});

describe('targeting in a policy', () => {
  const policy = { image_pattern: 'acme/app:*' };

  it('defaults to every device, in no particular order', () => {
    expect(validate(policyInputSchema, policy)).toMatchObject({ device_selector: {}, batch_order: [] });
  });

  it('takes a selector and up to 10 non-empty batch-order entries, naming the one that is wrong', () => {
    expect(validate(policyInputSchema, { ...policy, device_selector: { site: 'berlin' }, batch_order: [{ ring: 'canary' }, { ring: 'beta' }] })).toMatchObject({
      device_selector: { site: 'berlin' },
      batch_order: [{ ring: 'canary' }, { ring: 'beta' }],
    });
    expect(refusal(policyInputSchema, { ...policy, batch_order: [{ ring: 'canary' }, {}] })).toBe('batch_order[1] must not be empty');
    expect(refusal(policyInputSchema, { ...policy, batch_order: Array.from({ length: 11 }, (_, i) => ({ ring: `r${i}` })) })).toBe('batch_order must have at most 10 entries');
    expect(refusal(policyInputSchema, { ...policy, device_selector: { 'site!': 'x' } })).toMatch(/^device_selector\.site! is not a label key/);
    expect(refusal(policyInputSchema, { ...policy, batch_order: [{ ring: '-x' }] })).toMatch(/^batch_order\[0\]\.ring must be/);
    expect(refusal(policyInputSchema, { ...policy, batch_order: [JSON.parse('{"__proto__":"x"}')] })).toMatch(/batch_order\[0\]\.__proto__ is not a label key/);
  });

  it('refuses a batch-order entry the device selector rules out', () => {
    expect(contradiction({ site: 'berlin' }, { site: 'paris', ring: 'canary' })).toMatch(/site=berlin/);
    expect(contradiction({ site: 'berlin' }, { site: 'berlin', ring: 'canary' })).toBeUndefined();
    expect(refusal(policyInputSchema, { ...policy, device_selector: { site: 'berlin' }, batch_order: [{ ring: 'canary' }, { site: 'paris' }] })).toBe(
      'batch_order[1] can match no device: device_selector asks site=berlin, this entry site=paris',
    );
  });
});
