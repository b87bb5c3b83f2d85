import { z } from 'zod';
import { STEP_KINDS, type Step } from '../../step.js';

/** The marker that replaces a redacted value. */
export const REDACTED = '[REDACTED]';

/**
 * A custom masker: returns the value to record for a content field (`input`, `inputMessages`,
 * `trace.output`, …). It must return a new value rather than change the one it is given, which
 * may belong to the app. When it throws, the field is recorded as {@link REDACTED}.
 */
export type MaskFunction = (value: unknown, field: string, step: Step) => unknown;

const maskFunction = z.custom<MaskFunction>(
  (v) => typeof v === 'function',
  'expected a function (value, field, step) => value',
);
const regExp = z.instanceof(RegExp, { message: 'expected a RegExp' });

export const RedactOptionsSchema = z
  .object({
    /** False records no content at all (inputs, outputs, messages, documents' text, tool data…). Default true. */
    content: z.boolean().optional(),
    /** False masks every input-side content field. Default true. */
    input: z.boolean().optional(),
    /** False masks every output-side content field. Default true. */
    output: z.boolean().optional(),
    /** False masks one family of fields wherever it appears. Each defaults to true. */
    fields: z
      .object({
        messages: z.boolean().optional(),
        documents: z.boolean().optional(),
        toolArguments: z.boolean().optional(),
        toolResults: z.boolean().optional(),
        promptVariables: z.boolean().optional(),
      })
      .strict()
      .optional(),
    /**
     * Keys whose values are masked in `metadata`, `trace.metadata` and `attributes`, up to two
     * levels below the top. A string matches a key or a dotted path case-insensitively.
     */
    metadataKeys: z.array(z.union([z.string().min(1), regExp])).optional(),
    /** Masks matches inside every string of the content fields that are kept. */
    patterns: z
      .object({
        emails: z.boolean().optional(),
        apiKeys: z.boolean().optional(),
        custom: z.array(regExp).optional(),
      })
      .strict()
      .optional(),
    /** Custom masker applied to each content field that is kept; fails closed. */
    mask: maskFunction.optional(),
    /** Kinds the policy applies to (default: all). Per-call `maskInput`/`maskOutput` apply to every kind. */
    kinds: z.array(z.enum(STEP_KINDS)).min(1).optional(),
  })
  .strict();

export type RedactOptions = z.input<typeof RedactOptionsSchema>;
