// @ts-check
/**
 * A loopback OTLP/HTTP sink for the bench: it reads each request whole and answers 200 with an
 * empty protobuf response, as a healthy collector does, without decoding (LangSmith's run
 * endpoints take the same answer; `GET /info` gets LangSmith's default batching settings). It runs in the bench's
 * parent process, so its work never counts against the contender being measured.
 */
import http from 'node:http';

/**
 * @typedef {object} Sink
 * @property {string} url Base URL, e.g. `http://127.0.0.1:43123` (exporters add `/v1/traces`).
 * @property {() => { requests: number, bytes: number }} stats
 * @property {() => Promise<void>} close
 */

/** What LangSmith's `GET /info` returns by default (its SDK's own defaults). */
const LANGSMITH_BATCH_CONFIG = {
  use_multipart_endpoint: true,
  size_limit: 100,
  size_limit_bytes: 20_971_520,
  scale_up_nthreads_limit: 16,
  scale_up_qsize_trigger: 1000,
  scale_down_nempty_trigger: 4,
};

/** @returns {Promise<Sink>} */
export async function startSink() {
  let requests = 0;
  let bytes = 0;
  const server = http.createServer((req, res) => {
    if (req.method === 'GET') {
      // LangSmith's client asks for the server's batching settings before it sends.
      const info = JSON.stringify({ version: 'bench-sink', batch_ingest_config: LANGSMITH_BATCH_CONFIG });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(info) });
      res.end(info);
      req.resume();
      return;
    }
    req.on('data', (chunk) => {
      bytes += chunk.length;
    });
    req.on('end', () => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 });
      res.end();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the sink has no TCP address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    stats: () => ({ requests, bytes }),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The sink's URL, as the parent passes it to each worker. */
export function sinkUrl() {
  const url = process.env.BENCH_OTLP_URL;
  if (!url) throw new Error('BENCH_OTLP_URL is not set: run this contender through src/run.mjs');
  return url;
}

/**
 * A backend that is down but reachable: connections are accepted and read, never answered (the
 * worst case for an exporter: every request waits for its timeout).
 *
 * @returns {Promise<Sink>}
 */
export async function startBlackhole() {
  let requests = 0;
  let bytes = 0;
  const server = http.createServer((req) => {
    requests++;
    req.on('data', (chunk) => {
      bytes += chunk.length;
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the blackhole has no TCP address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    stats: () => ({ requests, bytes }),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
