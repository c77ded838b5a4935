/** `fedrank doctor --shop URL [--server URL] [--json]`: checks a storefront's integration from outside. */
import { parseArgs, runCli } from '../node/args.ts';
import { diagnose, type DoctorReport } from './doctor-checks.ts';
import { FedrankError } from '../shared/errors.ts';

const HELP = `usage: fedrank doctor --shop URL [--server URL] [--json]

Checks a storefront's fedrank integration the way a shopper's browser meets it: the shop page and its
loader tag, the SDK files and their MIME types (JavaScript, application/wasm), the server (reachable,
HTTPS when the shop is), the shop's origin in allowedOrigins, the CORS preflight of uploads, and clock
skew. --server defaults to the loader tag's data-server. Every problem comes with its fix.
Exit code: 0 all good, 1 problems found, 2 bad arguments.
`;

function url(raw: string | undefined, flag: string): string | null {
  if (raw === undefined) return null;
  try {
    const u = new URL(raw);
    if (u.protocol === 'http:' || u.protocol === 'https:') return u.href;
  } catch {
    // reported below
  }
  throw new FedrankError('CLI_BAD_ARGUMENT', `--${flag} must be an http(s) URL, got '${raw}'`);
}

/** Human-readable lines of a report. */
export function formatReport(r: DoctorReport): string {
  const lines = [`fedrank doctor: shop ${r.shop}, server ${r.server ?? '(unknown)'}`];
  for (const f of r.findings) {
    lines.push(`${f.ok ? '  ok  ' : '  FAIL'} ${f.id}: ${f.detail}`);
    if (f.fix) lines.push(`         fix: ${f.fix}`);
  }
  const problems = r.findings.filter((f) => !f.ok).length;
  lines.push(problems ? `${problems} problem${problems > 1 ? 's' : ''} found` : 'no problems found');
  return lines.join('\n') + '\n';
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  return runCli(async () => {
    const args = parseArgs(argv, ['shop', 'server'], ['json']);
    if (args.positionals.length > 0)
      throw new FedrankError('CLI_BAD_ARGUMENT', `unexpected argument '${args.positionals[0]}'`);
    const shop = url(args.options.get('shop'), 'shop');
    if (!shop) throw new FedrankError('CLI_BAD_ARGUMENT', '--shop URL is required');
    const report = await diagnose(shop, url(args.options.get('server'), 'server'));
    process.stdout.write(
      args.options.get('json') === 'true' ? JSON.stringify(report, null, 2) + '\n' : formatReport(report),
    );
    return report.ok ? 0 : 1;
  });
}
