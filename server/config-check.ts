/**
 * The collector behind config validation: each check records a problem (JSON path + reason) instead of
 * throwing, so an operator sees every problem of a config file at once. `done()` throws them together.
 */
import { FedrankError } from '../shared/errors.ts';

/** One configuration problem: where (JSON path such as `rounds.maxClients`) and what is wrong. */
export interface ConfigProblem {
  path: string;
  reason: string;
}

/** CONFIG_INVALID carrying every problem; the message lists them on one line, separated by '; '. */
export class ConfigInvalidError extends FedrankError {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    const lines = problems.map((p) => (p.path ? `${p.path}: ${p.reason}` : p.reason));
    const head = problems.length > 1 ? `${problems.length} problems: ` : '';
    super('CONFIG_INVALID', head + lines.join('; '));
    this.problems = problems;
  }
}

type Obj = Record<string, unknown>;
/** A plain JSON object (not an array, not null). */
export const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);

/** Records problems; every getter returns the value when valid and undefined otherwise. */
export class ConfigCheck {
  readonly problems: ConfigProblem[] = [];

  problem(path: string, reason: string): undefined {
    this.problems.push({ path, reason });
    return undefined;
  }

  /** True when a problem was recorded at `path` or below it. */
  failed(path: string): boolean {
    return this.problems.some((p) => p.path === path || p.path.startsWith(path + '.'));
  }

  keys(o: Obj, allowed: readonly string[], path: string): void {
    for (const k of Object.keys(o)) if (!allowed.includes(k)) this.problem(join(path, k), 'unknown key');
  }

  num(o: Obj, k: string, path: string, min: number, max: number, int = false): number | undefined {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (int && !Number.isInteger(v)))
      return this.problem(
        join(path, k),
        `must be ${int ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(v)}`,
      );
    return v;
  }

  /** A number in [min, max], or null; undefined when invalid. */
  numOrNull(
    o: Obj,
    k: string,
    path: string,
    min: number,
    max: number,
    int = false,
  ): number | null | undefined {
    return o[k] === null ? null : this.num(o, k, path, min, max, int);
  }

  str(o: Obj, k: string, path: string, allowed?: readonly string[]): string | undefined {
    const v = o[k];
    if (typeof v !== 'string' || v === '' || (allowed && !allowed.includes(v)))
      return this.problem(
        join(path, k),
        allowed
          ? `must be one of ${allowed.join('|')}, got ${JSON.stringify(v)}`
          : 'must be a non-empty string',
      );
    return v;
  }

  bool(o: Obj, k: string, path: string): boolean | undefined {
    const v = o[k];
    if (typeof v !== 'boolean') return this.problem(join(path, k), 'must be true or false');
    return v;
  }

  obj(o: Obj, k: string, path: string): Obj | undefined {
    const v = o[k];
    if (!isObj(v)) return this.problem(join(path, k), 'must be an object');
    return v;
  }

  /** Runs a validator that throws a FedrankError '<path> <reason>' (the shared protocol parsers). */
  shared<T>(path: string, parse: () => T): T | undefined {
    try {
      return parse();
    } catch (err) {
      if (!(err instanceof FedrankError)) throw err;
      const detail = err.detail ?? err.message;
      return detail.startsWith(path + ' ')
        ? this.problem(path, detail.slice(path.length + 1))
        : this.problem(path, detail);
    }
  }

  /** Throws every recorded problem as one ConfigInvalidError. */
  done(): void {
    if (this.problems.length > 0) throw new ConfigInvalidError(this.problems);
  }
}
