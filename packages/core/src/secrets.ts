/**
 * Secret scrubbing for everything spanchain writes to logs or puts in error messages.
 * Plugins register the credentials they were given; well-known key shapes are masked too.
 */
/** Credentials given at configuration time: few, kept for the life of the process. */
const known = new Set<string>();
/** Per-request or per-team credentials: bounded, the oldest forgotten first. */
const transient = new Set<string>();
const MAX_TRANSIENT = 10_000;
const MASK = '[REDACTED]';

/**
 * Registers a credential so that it never appears in spanchain's logs and error messages.
 * Values shorter than 8 characters are ignored (too likely to match ordinary text). Credentials
 * seen per request or per team (`{ transient: true }`) are kept in a bounded set, the oldest
 * forgotten first; configuration-time credentials are kept for good.
 *
 * @example registerSecret(process.env.LANGFUSE_SECRET_KEY)
 * @example registerSecret(tokenOfThisTeam, { transient: true })
 */
export function registerSecret(value: string | undefined | null, options?: { transient?: boolean }): void {
  if (typeof value !== 'string' || value.length < 8 || known.has(value)) return;
  if (!options?.transient) {
    known.add(value);
    return;
  }
  if (transient.has(value)) return;
  if (transient.size >= MAX_TRANSIENT) {
    const oldest = transient.values().next().value;
    if (oldest !== undefined) transient.delete(oldest);
  }
  transient.add(value);
}

const PATTERNS: RegExp[] = [
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}/gi,
  /\b(sk|pk|rk)-(?:lf-|proj-|ant-)?[A-Za-z0-9_-]{12,}/g,
  /\blsv2_[A-Za-z0-9_]{12,}/g,
  /\b(api[_-]?key|x-api-key|authorization|password|secret|token)(["']?\s*[:=]\s*["']?)[^\s"',;&]{4,}/gi,
  /(\/\/[^/\s:@]+):[^/\s@]+@/g,
];

/**
 * Masks registered secrets and common credential shapes (bearer tokens, `sk-…` keys,
 * `api_key=…`, passwords in URLs) in a text.
 *
 * @example scrubSecrets('Authorization: Bearer abc.def.ghi') // 'Authorization: [REDACTED]'
 */
export function scrubSecrets(text: string): string {
  let out = text;
  for (const secret of known) {
    if (out.includes(secret)) out = out.split(secret).join(MASK);
  }
  for (const secret of transient) {
    if (out.includes(secret)) out = out.split(secret).join(MASK);
  }
  out = out
    .replace(PATTERNS[0]!, MASK)
    .replace(PATTERNS[1]!, MASK)
    .replace(PATTERNS[2]!, MASK)
    .replace(PATTERNS[3]!, (_m, name: string, sep: string) => `${name}${sep}${MASK}`)
    .replace(PATTERNS[4]!, `$1:${MASK}@`);
  return out;
}
