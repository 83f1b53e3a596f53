import { createServer, type Server } from 'node:http';
import { type Registry } from 'prom-client';

export interface HealthCheck {
  /**
   * Ready means able to do its job now (e.g. Kafka reachable); live means the process is not wedged.
   * Degraded: ready, but not doing all of it (shedding load); still 200, with status "degraded".
   */
  ready(): { ok: boolean; detail: string; degraded?: boolean };
}

/**
 * The operational HTTP endpoint of a worker: GET /metrics (Prometheus text), /health/live, /health/ready.
 * Unauthenticated by design (scraped inside the cluster) and exposes no stream URLs. Adapter over node:http.
 */
export class OpsEndpoint {
  private server: Server | null = null;

  constructor(
    private readonly registry: Registry,
    private readonly health: HealthCheck,
  ) {}

  /** `setting` names the variable that chose the port, for the error when it is taken. */
  async listen(port: number, host = '0.0.0.0', setting?: string): Promise<number> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET') {
        res.writeHead(405, { allow: 'GET' }).end();
        return;
      }
      if (path === '/metrics') {
        this.registry
          .metrics()
          .then((text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text))
          .catch(() => res.writeHead(500).end());
        return;
      }
      if (path === '/health/live') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
        return;
      }
      if (path === '/health/ready') {
        const r = this.health.ready();
        res.writeHead(r.ok ? 200 : 503, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            status: !r.ok ? 'unavailable' : r.degraded ? 'degraded' : 'ok',
            detail: r.detail,
          }),
        );
        return;
      }
      res.writeHead(404).end();
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'EADDRINUSE' ? new PortInUseError(port, setting) : err),
      );
      server.listen(port, host, () => resolve());
    });
    const addr = server.address();
    return typeof addr === 'object' && addr ? addr.port : port;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** The metrics/health port is taken (another Vigil, or another program, listens there). */
export class PortInUseError extends Error {
  constructor(
    readonly port: number,
    readonly setting?: string,
  ) {
    super(
      `port ${port} is already in use (another Vigil or another program listens there); ${setting ? `set ${setting} to a free port, or to 0 to pick one` : 'choose a free port'}`,
    );
    this.name = 'PortInUseError';
  }
}
