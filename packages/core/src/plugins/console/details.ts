/**
 * What the waterfall says about one step after its bar: model, tokens, cost, documents, tool,
 * attempt, stream state, markers and the error. Reads fields defensively: a step carries
 * whatever the app wrote with `update()`, so nothing here assumes a type it did not check.
 */
import { scrubSecrets } from '../../secrets.js';
import type { Cost, Step, Usage } from '../../step.js';
import { cut, finite, firstLine, formatCount, formatDuration, formatMoney, type Style } from './format.js';

export interface Detail {
  text: string;
  style?: Style;
}

/** Finish reasons that are the normal end of a call, so not worth a mention. */
const NORMAL_FINISH = new Set([
  'stop',
  'end_turn',
  'tool_calls',
  'tool_use',
  'stop_sequence',
  'STOP',
  'FINISH',
]);

const ERROR_MESSAGE_CELLS = 120;

function field(step: Step, name: string): unknown {
  return (step as unknown as Record<string, unknown>)[name];
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function list(value: unknown): unknown[] | undefined {
  return Array.isArray(value) ? value : undefined;
}

/** Usage of a step that can carry it (`llm`, `embedding`), when it holds a number. */
export function usageOf(step: Step): Usage | undefined {
  const usage = field(step, 'usage');
  if (typeof usage !== 'object' || usage === null) return undefined;
  const u = usage as Usage;
  return finite(u.inputTokens) !== undefined ||
    finite(u.outputTokens) !== undefined ||
    finite(u.totalTokens) !== undefined
    ? u
    : undefined;
}

/** Tokens a usage stands for: the total, or input plus output. */
export function tokensOf(usage: Usage): number {
  return finite(usage.totalTokens) ?? (finite(usage.inputTokens) ?? 0) + (finite(usage.outputTokens) ?? 0);
}

export function costOf(step: Step): Cost | undefined {
  const cost = field(step, 'cost');
  if (typeof cost !== 'object' || cost === null) return undefined;
  const c = cost as Cost;
  return finite(c.total) === undefined ? undefined : { ...c, currency: text(c.currency) ?? 'USD' };
}

function tokens(usage: Usage): string {
  const input = finite(usage.inputTokens);
  const output = finite(usage.outputTokens);
  let out =
    input !== undefined || output !== undefined
      ? `${input === undefined ? '?' : formatCount(input)}→${output === undefined ? '?' : formatCount(output)} tok`
      : `${formatCount(tokensOf(usage))} tok`;
  const cached = finite(usage.cachedInputTokens);
  if (cached) out += ` (${formatCount(cached)} cached)`;
  return out;
}

function modelDetails(step: Step, out: Detail[]): void {
  const model = text(field(step, 'responseModel')) ?? text(field(step, 'model'));
  if (model && model !== step.name) out.push({ text: model, style: 'bold' });
  const usage = usageOf(step);
  if (usage) out.push({ text: tokens(usage) });
  const cost = costOf(step);
  if (cost) out.push({ text: formatMoney(cost.total, cost.currency), style: 'green' });
}

function kindDetails(step: Step, out: Detail[]): void {
  switch (step.kind) {
    case 'llm': {
      modelDetails(step, out);
      const ttft = finite(step.timeToFirstTokenMs);
      if (ttft !== undefined) out.push({ text: `ttft ${formatDuration(ttft)}` });
      const finish = list(step.finishReasons)?.find((r) => typeof r === 'string' && !NORMAL_FINISH.has(r));
      if (typeof finish === 'string') out.push({ text: `finish: ${finish}`, style: 'yellow' });
      const calls = list(step.toolCalls)
        ?.map((c) => text((c as { name?: unknown } | null)?.name))
        .filter((name): name is string => name !== undefined);
      if (calls && calls.length > 0) {
        const shown = calls.slice(0, 3).join(', ');
        out.push({ text: `calls ${shown}${calls.length > 3 ? ` +${calls.length - 3}` : ''}` });
      }
      return;
    }
    case 'embedding': {
      modelDetails(step, out);
      const count = finite(step.count) ?? list(step.texts)?.length;
      if (count !== undefined) out.push({ text: `${formatCount(count)} ${count === 1 ? 'text' : 'texts'}` });
      return;
    }
    case 'rerank': {
      modelDetails(step, out);
      const given = list(step.documents)?.length;
      const kept = list(step.rerankedDocuments)?.length;
      if (kept !== undefined)
        out.push({ text: `${given === undefined ? '' : `${formatCount(given)}→`}${formatCount(kept)} docs` });
      return;
    }
    case 'retrieval': {
      const source = text(step.dataSource);
      if (source && source !== step.name) out.push({ text: source });
      const documents = list(step.documents);
      if (documents)
        out.push({ text: `${formatCount(documents.length)} ${documents.length === 1 ? 'doc' : 'docs'}` });
      return;
    }
    case 'tool': {
      const name = text(step.toolName);
      if (name && name !== step.name) out.push({ text: `tool ${name}` });
      return;
    }
    case 'prompt': {
      const template = text(step.templateName);
      const version = step.templateVersion;
      const versioned = typeof version === 'string' || typeof version === 'number' ? ` v${version}` : '';
      if (template && (template !== step.name || versioned)) out.push({ text: `${template}${versioned}` });
      return;
    }
    case 'guardrail': {
      const decision = text(step.decision);
      if (!decision) return;
      const reason = text(step.reason);
      const said = `${decision === 'block' ? 'blocked' : decision}${reason ? `: ${firstLine(scrubSecrets(reason), 60)}` : ''}`;
      out.push({ text: said, style: decision === 'block' ? 'yellow' : undefined });
      return;
    }
    default:
      return;
  }
}

function errorText(step: Step): string {
  const error = step.error;
  if (!error) return 'failed';
  const type = text(error.type) ?? 'Error';
  const code = typeof error.code === 'string' || typeof error.code === 'number' ? ` [${error.code}]` : '';
  const message = text(error.message);
  return cut(
    `${type}${code}${message ? `: ${firstLine(scrubSecrets(message), ERROR_MESSAGE_CELLS)}` : ''}`,
    ERROR_MESSAGE_CELLS,
  );
}

/** The details of one step, in the order they are printed. */
export function stepDetails(step: Step): Detail[] {
  const out: Detail[] = [];
  kindDetails(step, out);
  const attempt = step.attempt;
  if (attempt && typeof attempt === 'object') {
    const fallback = text(attempt.fallback);
    const number = finite(attempt.number);
    if (fallback) out.push({ text: `fallback ${fallback}`, style: 'yellow' });
    else if (number !== undefined) out.push({ text: `attempt ${number + 1}` });
  }
  const attempts = step.attempts;
  if (attempts && typeof attempts === 'object') {
    const retries = finite(attempts.retries) ?? 0;
    const fallbacks = finite(attempts.fallbacks) ?? 0;
    if (retries > 0) out.push({ text: `${retries} ${retries === 1 ? 'retry' : 'retries'}`, style: 'yellow' });
    if (fallbacks > 0)
      out.push({ text: `${fallbacks} ${fallbacks === 1 ? 'fallback' : 'fallbacks'}`, style: 'yellow' });
  }
  const stream = step.stream;
  if (stream && typeof stream === 'object' && stream.state !== 'completed') {
    out.push({ text: `stream ${String(stream.state)}`, style: 'yellow' });
  }
  const recovered = Array.isArray(step.events)
    ? step.events.find((e) => e?.name === 'error-recovered')
    : undefined;
  if (recovered)
    out.push({
      text: `recovered from ${String(recovered.attributes?.['error.type'] ?? 'an error')}`,
      style: 'yellow',
    });
  if (Array.isArray(step.redacted) && step.redacted.length > 0) out.push({ text: 'redacted', style: 'dim' });
  if (Array.isArray(step.truncated) && step.truncated.length > 0)
    out.push({ text: 'truncated', style: 'dim' });
  if (step.endTime === undefined) out.push({ text: 'running', style: 'yellow' });
  if (step.status === 'error') out.push({ text: errorText(step), style: 'red' });
  return out;
}
