/**
 * `fedrank privacy explain --config FILE`: what a server configuration guarantees to each party (epsilon at
 * delta per shopper against the server and against model observers, participation caps, threshold,
 * assumptions), in words, or as one JSON line with --json; so an operator can check a config before deploying.
 */
import { FedrankError } from '../shared/errors.ts';
import { makeConfig, readConfigFile } from '../server/config.ts';
import { deploymentGuarantees, explainInWords } from '../server/guarantees.ts';
import { parseArgs } from '../node/args.ts';

export const EXPLAIN_USAGE = `  fedrank privacy explain --config FILE [--json]

  --config FILE    a server configuration (as for fedrank serve); defaults fill what it leaves out
  --json           one JSON line instead of words`;

/** JSON has no Infinity: an unbounded epsilon is written as null. */
const replacer = (_k: string, v: unknown): unknown =>
  typeof v === 'number' && !Number.isFinite(v) ? null : v;

/** Runs the explain command; returns the exit code. */
export function explainCommand(argv: string[]): number {
  const args = parseArgs(argv, ['config'], ['help', 'json']);
  if (args.options.has('help')) {
    process.stdout.write(`usage:\n${EXPLAIN_USAGE}\n`);
    return 0;
  }
  if (args.positionals.length > 0)
    throw new FedrankError('CLI_BAD_ARGUMENT', `unexpected argument '${args.positionals[0]}'`);
  const path = args.options.get('config');
  if (path === undefined) throw new FedrankError('CLI_BAD_ARGUMENT', '--config FILE is required');
  const g = deploymentGuarantees(makeConfig(readConfigFile(path)));
  if (args.options.has('json')) process.stdout.write(JSON.stringify(g, replacer) + '\n');
  else process.stdout.write(explainInWords(g) + '\n');
  return 0;
}
