/**
 * Device labels (`{"ring":"canary","site":"berlin"}`) and the selectors policies target devices
 * with: the rules for a key and a value, matching, the groups of a policy's batch order, and a
 * JSON merge patch (RFC 7396) of a device's labels. Plain functions over plain data.
 *
 * A label map comes from JSON or from the table, so a key such as `constructor` is only ever read
 * as an own property: a device without that label must not match through Object.prototype.
 */

export type Labels = Record<string, string>;
/** Equality on every key; the empty selector matches every device. */
export type Selector = Labels;

export const maxLabels = 32;
export const maxLabelLength = 63;
/** At most this many groups in a policy's `batch_order`. */
export const maxBatchOrder = 10;

export const labelKeyPattern = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/;
export const labelValuePattern = /^([A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?)?$/;

export const labelKeyRule = '1-63 letters, digits, "-", "_", "." or "/", starting and ending with a letter or digit';
export const labelValueRule = 'at most 63 letters, digits, "-", "_", "." or "/", starting and ending with a letter or digit (or empty)';

export function isLabelKey(key: string): boolean {
  return labelKeyPattern.test(key);
}

export function isLabelValue(value: string): boolean {
  return labelValuePattern.test(value);
}

function own(labels: Labels | undefined, key: string): string | undefined {
  return labels !== undefined && Object.hasOwn(labels, key) ? labels[key] : undefined;
}

/** Whether the labels have every key of the selector, each with the selector's value. */
export function matchesSelector(labels: Labels | undefined, selector: Selector): boolean {
  return Object.entries(selector).every(([key, value]) => own(labels, key) === value);
}

/**
 * The group of a device in a policy's `batch_order`: the index of the first selector its labels
 * match, or `order.length` (the rest) when none does. Planning puts group 0 first, then 1, ….
 */
export function batchGroupOf(labels: Labels | undefined, order: readonly Selector[]): number {
  const index = order.findIndex((selector) => matchesSelector(labels, selector));
  return index < 0 ? order.length : index;
}

/** A JSON merge patch of labels: a key with a value sets it, a key with null removes it. */
export type LabelPatch = Record<string, string | null>;

/** The labels after the patch; the rest stay as they were. */
export function mergeLabels(current: Labels | undefined, patch: LabelPatch): Labels {
  const merged = new Map(Object.entries(current ?? {}));
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) merged.delete(key);
    else merged.set(key, value);
  }
  return Object.fromEntries(merged);
}

/** `ring:canary` as a selector entry (`GET /devices?label=`), or why it is not one. */
export function parseLabelFilter(text: string): { key: string; value: string } | { problem: string } {
  const colon = text.indexOf(':');
  if (colon < 0) return { problem: `"${text}" must be key:value, e.g. ring:canary` };
  const key = text.slice(0, colon);
  const value = text.slice(colon + 1);
  if (!isLabelKey(key)) return { problem: `"${text}": the key must be ${labelKeyRule}` };
  if (!isLabelValue(value)) return { problem: `"${text}": the value must be ${labelValueRule}` };
  return { key, value };
}

/**
 * A batch-order entry no device can match because the policy's device selector, which every
 * device of its rollouts matches, asks another value of one of its keys; undefined when it can.
 */
export function contradiction(selector: Selector, entry: Selector): string | undefined {
  const key = Object.keys(entry).find((k) => Object.hasOwn(selector, k) && selector[k] !== entry[k]);
  return key === undefined ? undefined : `can match no device: device_selector asks ${key}=${selector[key]}, this entry ${key}=${entry[key]}`;
}
