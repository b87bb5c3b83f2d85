import { SpanchainError, scrubSecrets } from '@spanchain/core';
import { describe, expect, it } from 'vitest';
import { resolveLangSmithOptions } from './options.js';

const KEY = 'lsv2_pt_0123456789abcdef0123456789abcdef_0123456789';

function thrown(fn: () => unknown): SpanchainError {
  try {
    fn();
  } catch (error) {
    if (SpanchainError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('did not throw');
}

describe('options and environment', () => {
  it('defaults', () => {
    const s = resolveLangSmithOptions({ apiKey: KEY }, {});
    expect(s).toMatchObject({
      name: 'langsmith',
      apiKey: KEY,
      endpoint: 'https://api.smith.langchain.com',
      project: 'default',
      replicas: [],
      samplingRate: 1,
      hideInputs: false,
      hideOutputs: false,
      mode: 'multipart',
      compression: 'gzip',
      maxBatchRuns: 100,
      maxBatchBytes: 20 * 1024 * 1024,
      maxQueueRuns: 10_000,
      maxBufferBytes: 64 * 1024 * 1024,
      flushIntervalMillis: 1000,
      timeoutMillis: 10_000,
      maxRetries: 3,
      maxConcurrentRequests: 2,
      debug: false,
    });
    expect(s.workspaceId).toBeUndefined();
  });

  it("reads LangSmith's variables", () => {
    const s = resolveLangSmithOptions(undefined, {
      LANGSMITH_API_KEY: KEY,
      LANGSMITH_ENDPOINT: 'https://eu.api.smith.langchain.com/',
      LANGSMITH_PROJECT: 'support-bot',
      LANGSMITH_WORKSPACE_ID: 'ws-1',
      LANGSMITH_TRACING_SAMPLING_RATE: '0.25',
      LANGSMITH_HIDE_INPUTS: 'true',
      LANGSMITH_HIDE_OUTPUTS: 'false',
      LANGSMITH_DEBUG: 'true',
    });
    expect(s).toMatchObject({
      apiKey: KEY,
      endpoint: 'https://eu.api.smith.langchain.com',
      project: 'support-bot',
      workspaceId: 'ws-1',
      samplingRate: 0.25,
      hideInputs: true,
      hideOutputs: false,
      debug: true,
    });
  });

  it('falls back to the legacy LANGCHAIN_* names, LANGSMITH_* first', () => {
    const legacy = resolveLangSmithOptions(undefined, {
      LANGCHAIN_API_KEY: KEY,
      LANGCHAIN_ENDPOINT: 'http://127.0.0.1:1984',
      LANGCHAIN_PROJECT: 'old',
      LANGCHAIN_TRACING_SAMPLING_RATE: '0',
      LANGCHAIN_HIDE_OUTPUTS: 'true',
    });
    expect(legacy).toMatchObject({
      apiKey: KEY,
      endpoint: 'http://127.0.0.1:1984',
      project: 'old',
      samplingRate: 0,
      hideOutputs: true,
    });
    expect(
      resolveLangSmithOptions(undefined, { LANGCHAIN_API_KEY: KEY, LANGCHAIN_SESSION: 's' }).project,
    ).toBe('s');
    const both = resolveLangSmithOptions(undefined, {
      LANGSMITH_API_KEY: KEY,
      LANGSMITH_PROJECT: 'new',
      LANGCHAIN_PROJECT: 'old',
    });
    expect(both.project).toBe('new');
  });

  it('options win over the environment', () => {
    const s = resolveLangSmithOptions(
      { apiKey: 'explicit-key', project: 'p', samplingRate: 0.5, hideInputs: false },
      { LANGSMITH_API_KEY: KEY, LANGSMITH_PROJECT: 'env', LANGSMITH_HIDE_INPUTS: 'true' },
    );
    expect(s).toMatchObject({ apiKey: 'explicit-key', project: 'p', samplingRate: 0.5, hideInputs: false });
  });

  it('takes transport sizes up to their bounds', () => {
    const s = resolveLangSmithOptions(
      {
        apiKey: KEY,
        maxBufferBytes: 2 ** 31,
        maxBatchBytes: 8 * 1024 * 1024,
        maxBatchRuns: 500,
        maxQueueRuns: 1,
      },
      {},
    );
    expect(s).toMatchObject({
      maxBufferBytes: 2 ** 31,
      maxBatchBytes: 8 * 1024 * 1024,
      maxBatchRuns: 500,
      maxQueueRuns: 1,
    });
    expect(() => resolveLangSmithOptions({ apiKey: KEY, maxBufferBytes: 2 ** 31 + 1 }, {})).toThrow(
      /maxBufferBytes/,
    );
  });

  it('accepts functions of the step for key, endpoint, project and workspace', () => {
    const apiKey = () => KEY;
    const project = () => 'team-a';
    const s = resolveLangSmithOptions(
      { apiKey, project, endpoint: () => undefined, workspaceId: () => 'w' },
      {},
    );
    expect(s.apiKey).toBe(apiKey);
    expect(s.project).toBe(project);
    expect(typeof s.endpoint).toBe('function');
  });

  it('reads replicas from LANGSMITH_RUNS_ENDPOINTS in both of the SDK forms', () => {
    const list = resolveLangSmithOptions(undefined, {
      LANGSMITH_API_KEY: KEY,
      LANGSMITH_PROJECT: 'main',
      LANGSMITH_RUNS_ENDPOINTS: JSON.stringify([
        { api_url: 'https://a.example/', api_key: 'key-a', project_name: 'copy' },
        { api_url: 'https://b.example', api_key: 'key-b' },
      ]),
    });
    expect(list.replicas).toEqual([
      { endpoint: 'https://a.example', apiKey: 'key-a', project: 'copy' },
      { endpoint: 'https://b.example', apiKey: 'key-b', project: 'main' },
    ]);
    const map = resolveLangSmithOptions(undefined, {
      LANGSMITH_API_KEY: KEY,
      LANGSMITH_RUNS_ENDPOINTS: JSON.stringify({ 'https://c.example': 'lsv2_key_c_0123456789' }),
    });
    expect(map.replicas).toEqual([
      { endpoint: 'https://c.example', apiKey: 'lsv2_key_c_0123456789', project: 'default' },
    ]);
    // The replicas' keys are secrets too.
    expect(scrubSecrets('lsv2_key_c_0123456789 leaked')).not.toContain('lsv2_key_c_0123456789');
  });

  it('fails clearly, naming the option or variable', () => {
    expect(thrown(() => resolveLangSmithOptions({}, {})).message).toMatch(
      /needs an API key.*LANGSMITH_API_KEY/,
    );
    expect(thrown(() => resolveLangSmithOptions({ apiKey: KEY, samplingRate: 2 }, {})).message).toMatch(
      /samplingRate/,
    );
    expect(
      thrown(() => resolveLangSmithOptions({ apiKey: KEY }, { LANGSMITH_TRACING_SAMPLING_RATE: 'half' }))
        .message,
    ).toMatch(/LANGSMITH_TRACING_SAMPLING_RATE: expected a number from 0 to 1/);
    expect(
      thrown(() => resolveLangSmithOptions({ apiKey: KEY }, { LANGSMITH_ENDPOINT: 'ftp://x' })).message,
    ).toMatch(/LANGSMITH_ENDPOINT/);
    expect(thrown(() => resolveLangSmithOptions({ apiKey: KEY, endpoint: 'not a url' }, {})).message).toMatch(
      /endpoint/,
    );
    expect(thrown(() => resolveLangSmithOptions({ apiKey: KEY, mode: 'single' }, {})).message).toMatch(
      /mode/,
    );
    expect(thrown(() => resolveLangSmithOptions({ apiKey: KEY, colour: 'red' }, {})).message).toMatch(
      /colour/,
    );
    expect(
      thrown(() => resolveLangSmithOptions({ apiKey: KEY }, { LANGSMITH_RUNS_ENDPOINTS: '[{"api_url":1}]' }))
        .message,
    ).toMatch(/LANGSMITH_RUNS_ENDPOINTS/);
    expect(
      thrown(() => resolveLangSmithOptions({ apiKey: KEY }, { LANGSMITH_RUNS_ENDPOINTS: '{oops' })).message,
    ).toMatch(/LANGSMITH_RUNS_ENDPOINTS.*not JSON/);
    expect(
      thrown(() => resolveLangSmithOptions({ apiKey: () => KEY, replicas: [{ project: 'copy' }] }, {}))
        .message,
    ).toMatch(/replica without its own apiKey/);
  });

  it('never shows an API key in an error message', () => {
    const key = 'lsv2_sk_super_secret_value_123456';
    const error = thrown(() => resolveLangSmithOptions({ apiKey: key, maxRetries: -1 }, {}));
    expect(error.message).toMatch(/maxRetries/);
    expect(error.message).not.toContain(key);
    const replicaKey = 'lsv2_sk_replica_secret_987654';
    const bad = thrown(() =>
      resolveLangSmithOptions({ apiKey: KEY, replicas: [{ project: '', apiKey: replicaKey }] }, {}),
    );
    expect(bad.message).not.toContain(replicaKey);
  });
});
