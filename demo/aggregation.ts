/** Starts the aggregation server (server/app.ts) from a partial configuration, for the local stack. */
import { makeConfig } from '../server/config.ts';
import { startServer } from '../server/app.ts';

/** A listening aggregation server. */
export interface AggregationServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Validates `overrides` over the server defaults (CONFIG_INVALID on a bad value) and listens. */
export async function startAggregationServer(overrides: Record<string, unknown>): Promise<AggregationServer> {
  const config = makeConfig(overrides);
  const s = await startServer(config);
  return { url: s.url, port: Number(new URL(s.url).port), close: () => s.close() };
}
