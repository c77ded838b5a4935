/**
 * A small round-robin HTTP proxy for the scale scenario, standing in for a load balancer: each request goes
 * to the next backend; a backend that refuses the connection (killed) is skipped and the request sent to the
 * next, so a SIGKILLed process looks like a load balancer's failover. Bodies are buffered (they are small).
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';

/** A listening proxy. */
export interface Proxy {
  url: string;
  close(): Promise<void>;
}

function forward(backend: string, req: IncomingMessage, body: Buffer): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const u = new URL(req.url ?? '/', backend);
    const out = request(u, { method: req.method, headers: { ...req.headers, host: u.host } }, resolve);
    out.on('error', reject);
    out.end(body);
  });
}

/** Starts a proxy on 127.0.0.1 (free port) over `backends` (base URLs). */
export async function startProxy(backends: string[]): Promise<Proxy> {
  let turn = 0;
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const first = turn++;
    for (let k = 0; k < backends.length; k++) {
      try {
        const up = await forward(backends[(first + k) % backends.length]!, req, body);
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        return;
      } catch (err) {
        // Only a refused connection is safe to send again: the backend never saw the request.
        if ((err as { code?: string }).code !== 'ECONNREFUSED') break;
      }
    }
    res.writeHead(502).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
