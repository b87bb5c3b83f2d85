import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_RESPONSE_BYTES, nodeFetch } from './http.js';

const servers: http.Server[] = [];

async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const post = (url: string, body = Buffer.from('{"a":1}'), signal = new AbortController().signal) =>
  nodeFetch(url, {
    method: 'POST',
    headers: { 'x-api-key': 'k', 'content-type': 'application/json' },
    body,
    signal,
  });

describe('nodeFetch', () => {
  it('posts the body with its headers and length, and reads status, headers and text', async () => {
    let seen: { method?: string; headers?: http.IncomingHttpHeaders; body?: string } = {};
    const url = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        seen = { method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString() };
        res.writeHead(429, { 'retry-after': '3', 'content-type': 'application/json' });
        res.end('{"detail":"slow down"}');
      });
    });
    const response = await post(`${url}/runs/multipart`);
    expect(response.status).toBe(429);
    expect(response.headers.get('Retry-After')).toBe('3');
    expect(response.headers.get('x-missing')).toBeNull();
    expect(await response.text()).toBe('{"detail":"slow down"}');
    expect(seen).toMatchObject({
      method: 'POST',
      body: '{"a":1}',
      headers: { 'x-api-key': 'k', 'content-length': '7' },
    });
  });

  it('keeps at most 64 KiB of a huge response and lets the rest go', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(500);
      const chunk = Buffer.alloc(16 * 1024, 'x');
      // About 4 MiB offered; the client stops reading after 64 KiB.
      let sent = 0;
      const push = () => {
        while (sent < 256 && res.write(chunk)) sent++;
        if (sent < 256) res.once('drain', push);
        else res.end();
      };
      res.on('error', () => undefined);
      push();
    });
    const response = await post(url);
    expect(response.status).toBe(500);
    expect((await response.text()).length).toBe(MAX_RESPONSE_BYTES);
  });

  it('rejects when the signal aborts, and on a refused connection', async () => {
    const url = await serve(() => {
      // Never answers.
    });
    const controller = new AbortController();
    const pending = post(url, undefined, controller.signal);
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });

    const closed = await serve(() => undefined);
    const server = servers.pop()!;
    await new Promise((resolve) => server.close(resolve));
    await expect(post(closed)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(post('ftp://127.0.0.1/x')).rejects.toThrow(/unsupported protocol/);
    const withUser = post(url.replace('http://', 'http://svc:pw-123@'));
    await expect(withUser).rejects.toThrow(/refused a URL with credentials/);
    await expect(withUser).rejects.not.toThrow(/pw-123/);
  });
});
