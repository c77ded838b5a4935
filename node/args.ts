import { FedrankError, isFedrankError } from '../shared/errors.ts';

/** Parsed `--name value` / `--flag` options plus positional arguments. */
export interface ParsedArgs {
  options: Map<string, string>;
  positionals: string[];
}

/**
 * Parses `--key value`, `--key=value` and bare `--flag` (value 'true' when `flags` names it).
 * Unknown options are an error so typos never pass silently.
 */
export function parseArgs(
  argv: string[],
  known: readonly string[],
  flags: readonly string[] = [],
): ParsedArgs {
  const options = new Map<string, string>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const key = arg.slice(2, eq === -1 ? undefined : eq);
    if (!known.includes(key) && !flags.includes(key))
      throw new FedrankError('CLI_BAD_ARGUMENT', `unknown option --${key}`);
    if (flags.includes(key)) {
      options.set(key, eq === -1 ? 'true' : arg.slice(eq + 1));
      continue;
    }
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined) throw new FedrankError('CLI_BAD_ARGUMENT', `--${key} needs a value`);
    options.set(key, value);
  }
  return { options, positionals };
}

/** A finite number option within [min, max], or the default when absent and a default is given. */
export function numberOption(args: ParsedArgs, key: string, min: number, max: number, dflt?: number): number {
  const raw = args.options.get(key);
  if (raw === undefined) {
    if (dflt === undefined) throw new FedrankError('CLI_BAD_ARGUMENT', `--${key} is required`);
    return dflt;
  }
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || v < min || v > max) {
    throw new FedrankError('CLI_BAD_ARGUMENT', `--${key} must be a number in [${min}, ${max}], got '${raw}'`);
  }
  return v;
}

/** An integer option within [min, max]. */
export function intOption(args: ParsedArgs, key: string, min: number, max: number, dflt?: number): number {
  const v = numberOption(args, key, min, max, dflt);
  if (!Number.isInteger(v))
    throw new FedrankError('CLI_BAD_ARGUMENT', `--${key} must be an integer, got '${v}'`);
  return v;
}

/**
 * Runs a command body: every failure becomes one line `fedrank: CODE: detail` and exit code 2 (the stack
 * of an unexpected error only with FEDRANK_DEBUG=1).
 */
export async function runCli(body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    const fe = isFedrankError(err) ? err : null;
    const code = fe ? fe.code : 'INTERNAL';
    const detail = fe ? (fe.detail ?? fe.message) : String((err as Error)?.message ?? err);
    process.stderr.write(`fedrank: ${code}: ${detail.split('\n')[0]}\n`);
    if (!fe && process.env.FEDRANK_DEBUG === '1') process.stderr.write(`${(err as Error)?.stack}\n`);
    return 2;
  }
}
