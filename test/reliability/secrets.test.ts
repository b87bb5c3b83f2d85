// Secrets and tenants.
// - Canary: every credential the plugins hold (OTel headers, Langfuse keys, Phoenix key, LangSmith
//   key, per-team keys, an identity's apiKey) and every masked field (redact()'s metadata keys,
//   maskInput, key-shaped strings in content) is a unique canary string. With debug output on,
//   backends that echo the credentials they were sent back in 401 bodies, and errors reported, no
//   canary may appear in any payload the sinks receive, in any line written to stderr or the
//   console, in any error report, in stats() or in a flush report. Credentials travel only as
//   request headers, to their own sink.
// - Tenants: 40+ teams (more than the plugins' maxCredentialSets, so pipelines are evicted and made
//   again) trace interleaved steps with per-team credentials on every plugin; every request must
//   carry exactly one team's credentials and only that team's steps, and every step arrive once.
import { randomBytes } from 'node:crypto';
import { createTracer, type InternalErrorReport, redact } from '@spanchain/core';
import { langfuse } from '@spanchain/langfuse';
import { langsmith } from '@spanchain/langsmith';
import { otel } from '@spanchain/otel';
import { phoenix } from '@spanchain/phoenix';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startLangSmithReceiver } from '../support/langsmith-receiver.js';
import { type OtlpReceiverOptions, startOtlpReceiver } from '../support/otlp-receiver.js';
import { describeAccounts, identityGap } from './support/accounting.js';
import { PROFILE } from './support/profile.js';
import { ms, report } from './support/report.js';
import { DeliveryLedger, type PluginName, pluginOfSpan } from './support/sinks.js';

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  vi.restoreAllMocks();
});

const canary = (what: string) => `CANARY${what}${randomBytes(6).toString('hex')}`;

/** Every place text may leave the process: stderr and console writes, for the duration of `fn`. */
async function capturingOutput<T>(fn: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  vi.spyOn(process.stderr, 'write').mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
    lines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    return (
      (write as (...args: unknown[]) => boolean)(typeof chunk === 'string' ? '' : chunk, ...rest) || true
    );
  }) as typeof process.stderr.write);
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(' '));
    });
  }
  try {
    return { result: await fn(), lines };
  } finally {
    vi.restoreAllMocks();
  }
}

async function sinks(
  onData?: OtlpReceiverOptions['onData'],
  onRuns?: Parameters<typeof startLangSmithReceiver>[0] extends infer O
    ? O extends { onRuns?: infer F }
      ? F
      : never
    : never,
) {
  const otlp = await startOtlpReceiver({ grpc: false, ...(onData && { onData }) });
  const ls = await startLangSmithReceiver({ ...(onRuns && { onRuns }) });
  closers.push(
    () => otlp.close(),
    () => ls.close(),
  );
  return { otlp, ls };
}

const bodyText = (r: { body: Buffer }) => r.body.toString('latin1') + r.body.toString('utf8');

describe('secret canary', () => {
  it('no credential or masked value appears in any payload, log line, report or stat', async () => {
    const { otlp, ls } = await sinks();
    const secrets = {
      otelToken: canary('oteltoken'),
      langfuseSecret: `sk-lf-${canary('lfsecret')}`,
      phoenixKey: canary('phoenixkey'),
      langsmithKey: `lsv2_pt_${canary('lskey')}`,
      teamToken: canary('teamtoken'),
      identityKey: `sk-${canary('identity')}`,
    };
    const masked = {
      password: canary('password'),
      input: canary('maskedinput'),
      keyInContent: `sk-proj-${canary('contentkey')}${'A'.repeat(24)}`,
    };
    const langfusePublic = 'pk-lf-reliability-public';
    // First the sinks refuse every request with 401, echoing the credentials they were sent (into
    // the plugins' error reports); then they accept.
    let refusing = true;
    otlp.respondWith((request) =>
      refusing
        ? {
            status: 401,
            body: `bad credentials: ${request.headers.authorization ?? ''} ${JSON.stringify(request.headers)}`,
          }
        : { status: 'ok' },
    );
    ls.respondWith((request) =>
      refusing ? { status: 401, body: `bad key ${request.apiKey}` } : { status: 'ok' },
    );
    const errors: InternalErrorReport[] = [];
    const { result, lines } = await capturingOutput(async () => {
      const tracer = createTracer({
        flushOnExit: false,
        onError: (r) => errors.push(r),
        use: [redact({ metadataKeys: ['password'], patterns: { apiKeys: true } })],
        plugins: [
          otel({
            endpoint: otlp.httpUrl,
            metrics: false,
            debug: true,
            captureContent: true,
            batch: { scheduledDelayMillis: 20 },
            headers: (step) =>
              step.identity?.team === 'blue'
                ? { authorization: `Bearer ${secrets.teamToken}` }
                : { authorization: `Bearer ${secrets.otelToken}` },
          }),
          langfuse({
            baseUrl: otlp.httpUrl,
            publicKey: langfusePublic,
            secretKey: secrets.langfuseSecret,
            flushIntervalMillis: 20,
            debug: true,
          }),
          phoenix({
            endpoint: otlp.httpUrl,
            apiKey: secrets.phoenixKey,
            batch: { scheduledDelayMillis: 20 },
            debug: true,
          }),
          langsmith({ endpoint: ls.url, apiKey: secrets.langsmithKey, flushIntervalMillis: 20, debug: true }),
        ],
      });
      for (let i = 0; i < 40; i++) {
        if (i === 20) {
          await tracer.flush({ timeoutMs: 15_000 });
          refusing = false;
        }
        await tracer.chain(
          {
            name: 'request',
            identity: { team: i % 2 ? 'blue' : 'red', apiKey: secrets.identityKey },
            metadata: { password: masked.password, seq: i },
            input: { prompt: masked.input },
            maskInput: true,
          },
          () =>
            tracer.llm(
              {
                model: 'gpt-4o',
                provider: 'openai',
                inputMessages: [{ role: 'user', content: `use ${masked.keyInContent}` }],
              },
              async () => `the key was ${masked.keyInContent}`,
            ),
        );
      }
      const flushed = await tracer.flush({ timeoutMs: 15_000 });
      const stats = tracer.stats();
      const closed = await tracer.shutdown({ timeoutMs: 5_000 });
      return { flushed, stats, closed };
    });

    const all = { ...secrets, ...masked };
    const payloads = [...otlp.requests.map(bodyText), ...ls.requests.map(bodyText)];
    const logs = [
      ...lines,
      ...errors.map((e) => `${e.source} ${e.message}`),
      JSON.stringify(result.stats),
      JSON.stringify(result.flushed),
      JSON.stringify(result.closed),
    ];
    const leaks: string[] = [];
    for (const [name, value] of Object.entries(all)) {
      if (payloads.some((p) => p.includes(value))) leaks.push(`${name} in a payload`);
      if (logs.some((l) => l.includes(value))) leaks.push(`${name} in a log line or report`);
    }
    // Credentials go as headers, each to its own backend only.
    const langsmithKeys = new Set(ls.requests.map((r) => r.apiKey));
    const otlpAuth = new Set(otlp.requests.map((r) => r.headers.authorization ?? ''));
    report(
      'secret canary',
      `${Object.keys(all).length} canaries; ${payloads.length} payloads, ${lines.length} output lines (debug on), ${errors.length} error reports ` +
        `(401s echoing the credentials included): ${leaks.length ? `LEAKS: ${leaks.join(', ')}` : 'no leak'}; ` +
        `LangSmith saw keys ${[...langsmithKeys].map((k) => (k === secrets.langsmithKey ? 'own' : 'OTHER')).join(',')}, ` +
        `OTLP saw ${otlpAuth.size} distinct Authorization values`,
    );
    expect(lines.some((l) => l.includes('[spanchain:'))).toBe(true); // debug output was on
    expect(errors.length).toBeGreaterThan(0); // the 401s were reported
    expect(otlp.requests.filter((r) => r.outcome?.kind === 'accepted').length).toBeGreaterThan(0);
    expect(ls.requests.filter((r) => r.outcome?.kind === 'accepted').length).toBeGreaterThan(0);
    expect(leaks).toEqual([]);
    expect([...langsmithKeys]).toEqual([secrets.langsmithKey]);
    for (const auth of otlpAuth) {
      expect(
        [
          `Bearer ${secrets.otelToken}`,
          `Bearer ${secrets.teamToken}`,
          `Bearer ${secrets.phoenixKey}`,
          `Basic ${Buffer.from(`${langfusePublic}:${secrets.langfuseSecret}`).toString('base64')}`,
        ],
        auth,
      ).toContain(auth);
    }
  });
});

describe('tenant isolation', () => {
  it(`${PROFILE.teams} teams with their own credentials on every plugin: no request mixes teams`, async () => {
    const ledger = new DeliveryLedger();
    const mixed: string[] = [];
    const stepTeam = (plugin: PluginName, a: Record<string, unknown>): { team?: string; seq?: number } => {
      if (plugin === 'otel')
        return { team: a['spanchain.metadata.team'] as string, seq: a['spanchain.metadata.seq'] as number };
      if (plugin === 'langfuse')
        return {
          team: a['langfuse.observation.metadata.team'] as string,
          seq: Number(a['langfuse.observation.metadata.seq']),
        };
      return JSON.parse(String(a.metadata ?? '{}')) as { team?: string; seq?: number };
    };
    // Which team each credential belongs to, as the sinks see it (filled in below).
    const byCredential = new Map<string, string>();
    const { otlp, ls } = await sinks(
      ({ spans }, request) => {
        const owner = byCredential.get(request.headers.authorization ?? '') ?? 'unknown credentials';
        for (const span of spans) {
          const plugin = pluginOfSpan(span);
          if (!plugin) continue;
          const { team, seq } = stepTeam(plugin, span.attributes);
          if (team !== owner) mixed.push(`${plugin}: a ${team} span sent with ${owner}'s credentials`);
          ledger.record(plugin, seq);
        }
      },
      (posts, _patches, request) => {
        const owner = byCredential.get(request.apiKey) ?? 'unknown credentials';
        for (const run of posts) {
          const meta = (run.extra as { metadata: { team: string; seq: number } }).metadata;
          if (meta.team !== owner) mixed.push(`langsmith: a ${meta.team} run sent with ${owner}'s key`);
          ledger.record('langsmith', meta.seq);
        }
      },
    );
    const teams = PROFILE.teams;
    const teamOf = (t: number) => `team${t}`;
    const tokens = Array.from({ length: teams }, (_, t) => ({
      otel: `tok-${teamOf(t)}-${randomBytes(4).toString('hex')}`,
      langfuse: {
        publicKey: `pk-lf-${teamOf(t)}`,
        secretKey: `sk-lf-${teamOf(t)}-${randomBytes(4).toString('hex')}`,
      },
      phoenix: `phx-${teamOf(t)}-${randomBytes(4).toString('hex')}`,
      langsmith: `lsv2_pt_${teamOf(t)}_${randomBytes(4).toString('hex')}`,
    }));
    tokens.forEach((tok, t) => {
      byCredential.set(`Bearer ${tok.otel}`, teamOf(t));
      byCredential.set(
        `Basic ${Buffer.from(`${tok.langfuse.publicKey}:${tok.langfuse.secretKey}`).toString('base64')}`,
        teamOf(t),
      );
      byCredential.set(`Bearer ${tok.phoenix}`, teamOf(t));
      byCredential.set(tok.langsmith, teamOf(t));
    });
    const team = (step: { identity?: { team?: string } }) =>
      Number((step.identity?.team ?? 'team-1').slice(4));
    const maxCredentialSets = 8; // fewer than the teams: pipelines are evicted and made again
    const tracer = createTracer({
      flushOnExit: false,
      plugins: [
        otel({
          endpoint: otlp.httpUrl,
          metrics: false,
          maxCredentialSets,
          batch: { scheduledDelayMillis: 20, maxQueueSize: 20_000 },
          headers: (step) => ({ authorization: `Bearer ${tokens[team(step)]!.otel}` }),
        }),
        langfuse({
          baseUrl: otlp.httpUrl,
          flushIntervalMillis: 20,
          maxQueueSize: 20_000,
          maxCredentialSets,
          credentials: (step) => tokens[team(step)]!.langfuse,
        }),
        phoenix({
          endpoint: otlp.httpUrl,
          maxCredentialSets,
          batch: { scheduledDelayMillis: 20, maxQueueSize: 20_000 },
          credentials: (step) => tokens[team(step)]!.phoenix,
        }),
        langsmith({
          endpoint: ls.url,
          flushIntervalMillis: 20,
          maxQueueRuns: 20_000,
          apiKey: (step) => tokens[team(step)]!.langsmith,
        }),
      ],
    });
    const perTeam = 25;
    const total = teams * perTeam;
    // Interleaved: consecutive steps belong to different teams, as many in flight at once as the
    // plugins keep credential sets (a bigger burst is the skipped test below).
    for (let wave = 0; wave < perTeam; wave++) {
      for (let first = 0; first < teams; first += maxCredentialSets) {
        await Promise.all(
          Array.from({ length: Math.min(maxCredentialSets, teams - first) }, (_, j) => {
            const t = first + j;
            return tracer.custom(
              {
                name: 'work',
                identity: { team: teamOf(t) },
                metadata: { team: teamOf(t), seq: wave * teams + t },
              },
              async () => t,
            );
          }),
        );
      }
    }
    const flushed = await tracer.flush({ timeoutMs: 30_000 });
    const stats = tracer.stats().plugins;
    await tracer.shutdown({ timeoutMs: 5_000 });
    const delivered = (['otel', 'langfuse', 'phoenix', 'langsmith'] as const).map((p) => ({
      p,
      ...ledger.range(p, 0, total),
    }));
    report(
      'tenant isolation',
      `${teams} teams × ${perTeam} steps, maxCredentialSets ${maxCredentialSets}: ${mixed.length} requests mixing teams; ` +
        `${otlp.requests.length} OTLP + ${ls.requests.length} LangSmith requests; ` +
        delivered.map((d) => `${d.p} ${d.once}/${total} once`).join(', ') +
        `; flush ok ${flushed.ok}; ${stats.map(describeAccounts).join('; ')}`,
    );
    expect(mixed.slice(0, 5)).toEqual([]);
    for (const d of delivered) expect(d, d.p).toMatchObject({ once: total, missing: 0, duplicated: 0 });
    for (const p of stats) expect(identityGap(p), describeAccounts(p)).toBe(0);
  });
});

// Many more teams than maxCredentialSets, in bursts: pipelines are evicted and made again all the
// time. Each used to bring an HTTP agent of its own that was never closed (15,000 sockets open, a
// third to a half of the spans lost to ECONNRESET); a plugin's exporters now share one agent, with at
// most 32 exports at once.
describe('tenant churn', () => {
  it('a burst of more teams than maxCredentialSets loses nothing', async () => {
    const ledger = new DeliveryLedger();
    const otlp = await startOtlpReceiver({
      grpc: false,
      retain: false,
      onData: ({ spans }) => {
        for (const span of spans) ledger.record('otel', span.attributes['spanchain.metadata.seq'] as number);
      },
    });
    closers.push(() => otlp.close());
    const tracer = createTracer({
      flushOnExit: false,
      onError: () => undefined,
      plugins: [
        otel({
          endpoint: otlp.httpUrl,
          metrics: false,
          maxCredentialSets: 8,
          batch: { scheduledDelayMillis: 20, maxQueueSize: 20_000 },
          headers: (step) => ({ authorization: `Bearer ${String(step.identity?.team)}` }),
        }),
        langfuse({
          baseUrl: otlp.httpUrl,
          flushIntervalMillis: 20,
          maxQueueSize: 20_000,
          maxCredentialSets: 8,
          credentials: (step) => ({
            publicKey: `pk-lf-${step.identity?.team}`,
            secretKey: `sk-lf-${step.identity?.team}`,
          }),
        }),
        phoenix({
          endpoint: otlp.httpUrl,
          maxCredentialSets: 8,
          batch: { scheduledDelayMillis: 20, maxQueueSize: 20_000 },
          credentials: (step) => `phx-${step.identity?.team}`,
        }),
      ],
    });
    closers.push(() => tracer.shutdown({ timeoutMs: 5_000 }));
    const teams = 200;
    for (let wave = 0; wave < 25; wave++) {
      await Promise.all(
        Array.from({ length: teams }, (_, t) =>
          tracer.custom(
            { name: 'work', identity: { team: `team${t}` }, metadata: { seq: wave * teams + t } },
            async () => t,
          ),
        ),
      );
    }
    const flushStarted = Date.now();
    await tracer.flush({ timeoutMs: 30_000 });
    report(
      'tenant churn',
      `${teams} teams × 25 bursts over maxCredentialSets 8, 3 OTLP plugins: flush ${ms(Date.now() - flushStarted)}; ${tracer
        .stats()
        .plugins.map(describeAccounts)
        .join('; ')}`,
    );
    for (const p of tracer.stats().plugins) expect(p.dropped, describeAccounts(p)).toEqual({});
    expect(ledger.range('otel', 0, teams * 25)).toMatchObject({ once: teams * 25, missing: 0 });
  });
});
