/**
 * The schemas of device labels, label patches and selectors, with the rules of
 * lib/domain/labels.ts. A zod record drops a `__proto__` key without a word (it would replace the
 * prototype of the object it builds); here such a key is refused, so nothing a client sent is lost
 * in silence.
 */
import { z } from 'zod';
import { labelKeyPattern, labelKeyRule, labelValuePattern, labelValueRule, maxLabels, type Labels, type LabelPatch } from './domain/labels';

function refusePrototypeKey(input: unknown, ctx: z.RefinementCtx): unknown {
  if (input !== null && typeof input === 'object' && Object.hasOwn(input, '__proto__')) {
    ctx.addIssue({ code: 'custom', path: ['__proto__'], message: `is not a label key: keys are ${labelKeyRule}` });
  }
  return input;
}

const key = z.string().regex(labelKeyPattern, `is not a label key: keys are ${labelKeyRule}`);
const value = z.string().regex(labelValuePattern, `must be ${labelValueRule}`);

function labelMap<V extends z.ZodType>(values: V, what: string) {
  return z.preprocess(
    refusePrototypeKey,
    z
      .record(key, values, { error: (issue) => (issue.code === 'invalid_key' ? `is not a label key: keys are ${labelKeyRule}` : undefined) })
      .refine((map) => Object.keys(map).length <= maxLabels, `must have at most ${maxLabels} ${what}`),
  );
}

/** A device's labels. */
export const labelsSchema: z.ZodType<Labels> = labelMap(value, 'labels');
/** A JSON merge patch of a device's labels: a value sets the label, null removes it. */
export const labelPatchSchema: z.ZodType<LabelPatch> = labelMap(value.nullable(), 'labels');
/** Devices whose labels have every one of these keys with its value. */
export const selectorSchema: z.ZodType<Labels> = labelMap(value, 'keys');
export const nonEmptySelectorSchema: z.ZodType<Labels> = selectorSchema.refine((selector) => Object.keys(selector).length > 0, 'must not be empty');

/** Labels as answers show them. */
export const labelsViewSchema = z.record(z.string(), z.string());
