/**
 * `fedrank privacy`: deployment planning with the product's own accountant. `explain` says what a server
 * configuration guarantees to each party. `epsilon` gives the (epsilon, delta) of T rounds at sampling rate q
 * and noise multiplier sigma; `sigma` gives the noise multiplier a target epsilon needs (each one JSON line).
 * q < 1 assumes Poisson sampling, which the fedrank server does not do: it is for comparison with literature.
 */
import { FedrankError } from '../shared/errors.ts';
import { computeEpsilon, sigmaForEpsilon } from '../shared/dp/accountant.ts';
import { ORDER_SETS, type Conversion, type OrderSetName } from '../shared/dp/rdp.ts';
import { intOption, numberOption, parseArgs, runCli, type ParsedArgs } from '../node/args.ts';
import { EXPLAIN_USAGE, explainCommand } from './privacy-explain.ts';

const USAGE = `usage:
${EXPLAIN_USAGE}

  fedrank privacy epsilon --q Q --sigma S --steps T --delta D [--orders SET] [--conversion improved|classic]
  fedrank privacy sigma   --q Q --steps T --delta D --epsilon E [--orders SET] [--conversion improved|classic]

Renyi-DP accounting of the Poisson-subsampled Gaussian mechanism, as Google's dp_accounting computes it.
Each command prints one JSON line. The fedrank server samples nothing: its rounds are q = 1 (see explain).

  --q Q            sampling rate of each round (expected clients per round / population), in [0, 1]
  --sigma S        noise multiplier: noise std / clip norm (of the aggregate), > 0
  --steps T        number of rounds, integer >= 0
  --delta D        target delta, in (0, 1)
  --epsilon E      target epsilon (sigma command), > 0
  --orders SET     RDP orders: O1 | O2 | O3 | O4 | FINE | a comma list such as 2,4,8.5 (default O3,
                   dp_accounting's default; FINE = 1.000..99.999 step 0.001)
  --conversion C   improved (Balle et al. 2020, default) or classic (Mironov 2017)`;

const MAX_STEPS = 1e9;
const MAX_SIGMA = 1e6;
const MAX_ORDER = 1e6;

function bad(detail: string): never {
  throw new FedrankError('CLI_BAD_ARGUMENT', detail);
}

/** The order set named by --orders: a predefined set or a comma list of numbers >= 1. */
function ordersOption(args: ParsedArgs): { orders: readonly number[]; label: string | number[] } {
  const raw = args.options.get('orders');
  if (raw === undefined) return { orders: ORDER_SETS.O3, label: 'O3' };
  const name = raw.trim().toUpperCase();
  if (Object.hasOwn(ORDER_SETS, name)) return { orders: ORDER_SETS[name as OrderSetName], label: name };
  const parts = raw.split(',').map((s) => s.trim());
  const list = parts.map(Number);
  // An integer order n costs n+1 terms: a cap keeps a typo like 1e9 from hanging the command.
  if (parts.some((s) => s === '') || list.some((a) => !(a >= 1 && a <= MAX_ORDER)) || list.length > 200_000)
    bad(
      `--orders must be O1, O2, O3, O4, FINE or a comma list of numbers in [1, ${MAX_ORDER}], got '${raw}'`,
    );
  return { orders: list, label: list };
}

function conversionOption(args: ParsedArgs): Conversion {
  const raw = args.options.get('conversion') ?? 'improved';
  if (raw !== 'improved' && raw !== 'classic') bad(`--conversion must be improved or classic, got '${raw}'`);
  return raw;
}

function deltaOption(args: ParsedArgs): number {
  const delta = numberOption(args, 'delta', 0, 1);
  if (delta <= 0 || delta >= 1) bad(`--delta must be in (0, 1), got '${args.options.get('delta')}'`);
  return delta;
}

function positiveOption(args: ParsedArgs, key: string, max: number): number {
  const v = numberOption(args, key, 0, max);
  if (v <= 0) bad(`--${key} must be > 0, got '${args.options.get(key)}'`);
  return v;
}

/** A finite number for JSON; epsilon can be unbounded (e.g. no order converges), which JSON cannot hold. */
const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

function parse(argv: string[], known: string[]): ParsedArgs | null {
  const args = parseArgs(argv, known, ['help']);
  if (args.options.has('help') || args.positionals.includes('-h')) return null;
  if (args.positionals.length > 0) bad(`unexpected argument '${args.positionals[0]}'`);
  return args;
}

/** Library range checks (e.g. an epsilon out of reach) surface as argument errors. */
function asArgumentError<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof RangeError) bad(err.message);
    throw err;
  }
}

function epsilonCommand(argv: string[]): number {
  const args = parse(argv, ['q', 'sigma', 'steps', 'delta', 'orders', 'conversion']);
  if (!args) return help();
  const q = numberOption(args, 'q', 0, 1);
  const sigma = positiveOption(args, 'sigma', MAX_SIGMA);
  const steps = intOption(args, 'steps', 0, MAX_STEPS);
  const delta = deltaOption(args);
  const { orders, label } = ordersOption(args);
  const conversion = conversionOption(args);
  const r = asArgumentError(() => computeEpsilon({ q, sigma, steps, delta, orders, conversion }));
  const out = {
    epsilon: finiteOrNull(r.epsilon),
    order: r.order,
    q,
    sigma,
    steps,
    delta,
    orders: label,
    conversion,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
  return 0;
}

function sigmaCommand(argv: string[]): number {
  const args = parse(argv, ['q', 'steps', 'delta', 'epsilon', 'orders', 'conversion']);
  if (!args) return help();
  const q = numberOption(args, 'q', 0, 1);
  const steps = intOption(args, 'steps', 0, MAX_STEPS);
  const delta = deltaOption(args);
  const epsilon = positiveOption(args, 'epsilon', 1e6);
  const { orders, label } = ordersOption(args);
  const conversion = conversionOption(args);
  const sigma = asArgumentError(() => sigmaForEpsilon({ q, steps, delta, epsilon, orders, conversion }));
  // Report what the answer actually achieves, so the operator sees the margin.
  const achieved = sigma > 0 ? computeEpsilon({ q, sigma, steps, delta, orders, conversion }) : null;
  const out = {
    sigma,
    q,
    steps,
    delta,
    targetEpsilon: epsilon,
    epsilon: achieved ? finiteOrNull(achieved.epsilon) : 0,
    order: achieved ? achieved.order : null,
    orders: label,
    conversion,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
  return 0;
}

function help(): number {
  process.stdout.write(USAGE + '\n');
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  return runCli(async () => {
    const [sub, ...rest] = argv;
    if (sub === undefined) {
      process.stderr.write(USAGE + '\n');
      return 2;
    }
    if (sub === '--help' || sub === '-h' || sub === 'help') return help();
    if (sub === 'explain') return explainCommand(rest);
    if (sub === 'epsilon') return epsilonCommand(rest);
    if (sub === 'sigma') return sigmaCommand(rest);
    return bad(`unknown privacy command '${sub}' (expected explain, epsilon or sigma)`);
  });
}
