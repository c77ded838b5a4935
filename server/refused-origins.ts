/**
 * Browser origins the server refused (FORBIDDEN_ORIGIN), counted per origin so an operator can see a
 * storefront that is missing from allowedOrigins. Cardinality is bounded: past MAX_ORIGINS distinct
 * origins the rest are counted together under OTHER_ORIGINS, so hostile Origin headers cannot grow memory
 * or the /metrics output.
 */

/** Most distinct origins tracked one by one. */
export const MAX_ORIGINS = 32;
/** The bucket for origins beyond MAX_ORIGINS. */
export const OTHER_ORIGINS = '(other)';
/** Longest origin kept verbatim (longer ones are cut: a real origin is far shorter). */
const MAX_ORIGIN_CHARS = 200;

/** One refused origin. */
export interface RefusedOrigin {
  origin: string;
  count: number;
  firstSeen: string;
  lastSeen: string;
}

export class RefusedOrigins {
  private readonly byOrigin = new Map<string, RefusedOrigin>();

  constructor(private readonly clock: () => number = Date.now) {}

  /** Counts one refusal; true when this origin was refused for the first time (log it then). */
  note(rawOrigin: string): boolean {
    let origin = rawOrigin.slice(0, MAX_ORIGIN_CHARS);
    if (!this.byOrigin.has(origin) && this.byOrigin.size >= MAX_ORIGINS) origin = OTHER_ORIGINS;
    const now = new Date(this.clock()).toISOString();
    const entry = this.byOrigin.get(origin);
    if (entry) {
      entry.count += 1;
      entry.lastSeen = now;
      return false;
    }
    this.byOrigin.set(origin, { origin, count: 1, firstSeen: now, lastSeen: now });
    return true;
  }

  /** Most refused first. */
  list(): RefusedOrigin[] {
    return [...this.byOrigin.values()].map((e) => ({ ...e })).sort((a, b) => b.count - a.count);
  }

  /** Prometheus lines of `fedrank_origin_refused_total{origin="..."}` (label values escaped). */
  metricLines(): string[] {
    const esc = (s: string): string => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
    return this.list().map((e) => `fedrank_origin_refused_total{origin="${esc(e.origin)}"} ${e.count}`);
  }
}
