// The quote service: an HTTP server on 127.0.0.1 whose handler steps continue the caller's trace,
// read from the W3C `traceparent`/`tracestate`/`baggage` headers of each request.
// Run on its own: PORT=8787 node src/service.mjs   (src/client.mjs starts it for you)
import { createServer } from 'node:http';
import { createConsolePlugin, createTracer } from '@spanchain/core';

const extra = (process.env.SPANCHAIN_PLUGINS ?? '')
  .split(',')
  .map((name) => name.trim())
  .filter((name) => name && name !== 'console');

const tracer = createTracer({ serviceName: 'quote-service', plugins: [createConsolePlugin(), ...extra] });

const FARES = [
  { id: 'TP1351', route: 'BER-LIS', price: 189, stops: 0 },
  { id: 'LH1166', route: 'BER-LIS', price: 142, stops: 1 },
  { id: 'FR7312', route: 'BER-LIS', price: 97, stops: 0 },
];

/** The work behind POST /quote: two steps, nested under the caller's span. */
async function quote({ from, to }) {
  const fares = await tracer.tool(
    { name: 'lookup-fares', toolName: 'lookup_fares', arguments: { from, to } },
    async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return FARES.filter((fare) => fare.route === `${from}-${to}`);
    },
  );
  return tracer.llm(
    {
      name: 'pick-fare',
      provider: 'local',
      model: 'local-small',
      inputMessages: [{ role: 'user', content: `Pick the best non-stop fare: ${JSON.stringify(fares)}` }],
    },
    async (step) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      // A scripted choice: the cheapest non-stop fare.
      const best = fares.filter((f) => f.stops === 0).sort((a, b) => a.price - b.price)[0] ?? null;
      const content = best ? `${best.id} at ${best.price} EUR` : 'no fare found';
      step.update({
        usage: { inputTokens: 48, outputTokens: 6 },
        outputMessages: [{ role: 'assistant', content }],
        finishReasons: ['stop'],
      });
      return best;
    },
  );
}

/** The work behind POST /confirm. */
function confirm({ fareId }) {
  return tracer.tool(
    { name: 'send-confirmation', toolName: 'send_email', arguments: { template: 'booking', fareId } },
    async () => {
      await new Promise((resolve) => setTimeout(resolve, 3));
      return { sent: true, fareId };
    },
  );
}

const ROUTES = { '/quote': quote, '/confirm': confirm };

async function readJson(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 65_536) throw new Error('request body too large');
  }
  return body ? JSON.parse(body) : {};
}

const server = createServer(async (req, res) => {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const route = req.method === 'POST' ? ROUTES[path] : undefined;
  if (!route) {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
    return;
  }
  try {
    const input = await readJson(req);
    // The request's step continues the caller's trace: its parent is the client's span.
    const result = await tracer.continueFrom(req.headers, () =>
      tracer.chain(
        {
          name: `POST ${path}`,
          input,
          attributes: { 'http.request.method': 'POST', 'url.path': path },
        },
        (step) =>
          route(input).then((value) => {
            step.setAttributes({ 'http.response.status_code': 200 });
            return value;
          }),
      ),
    );
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result));
  } catch (error) {
    res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(error) }));
  }
});

let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  server.close();
  // The client's keep-alive connections would hold close() for seconds.
  server.closeAllConnections();
  await tracer.shutdown();
  process.exitCode = 0;
}

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  if (process.send) {
    // Started by the client: report the port over IPC, and stop when the client goes away.
    process.send({ port });
    process.on('disconnect', shutdown);
  } else {
    console.log(`quote service on http://127.0.0.1:${port}`);
  }
});
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
