/** `fedrank token path|show|rotate [--config FILE] [--db FILE]`: the operator token kept beside the database. */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs, runCli } from '../node/args.ts';
import { makeConfig, readConfigFile } from '../server/config.ts';
import { rotateTokenFile, tokenPathFor } from '../server/operator-token.ts';
import { FedrankError } from '../shared/errors.ts';

const HELP = `usage: fedrank token <path|show|rotate> [--config FILE.json] [--db FILE]

  path     prints where the operator token file is (operatorTokenFile, else 'operator-token' beside the db)
  show     prints the token itself (to this terminal only; it is never logged)
  rotate   replaces it with a new random token; a running server accepts only the new one from its next
           admin request, no restart needed. Signed-in dashboards must sign in again.
Use the same --config / --db as 'fedrank serve'.
`;

export async function run(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return argv.length === 0 ? 2 : 0;
  }
  return runCli(async () => {
    const args = parseArgs(argv, ['config', 'db']);
    const [action, extra] = args.positionals;
    if (extra !== undefined) throw new FedrankError('CLI_BAD_ARGUMENT', `unexpected argument '${extra}'`);
    const file = args.options.get('config');
    const db = args.options.get('db');
    const config = makeConfig(file ? readConfigFile(file) : undefined, db ? { db } : {});
    if (config.operatorToken !== undefined)
      throw new FedrankError(
        'CLI_BAD_ARGUMENT',
        'the config holds the token inline (operatorToken): edit it there',
      );
    const path = resolve(config.operatorTokenFile ?? tokenPathFor(config.db));
    const say = (line: string): void => void process.stdout.write(line + '\n');
    if (action === 'path') say(path);
    else if (action === 'show') {
      if (!existsSync(path))
        throw new FedrankError('CLI_BAD_ARGUMENT', `${path}: no token yet ('fedrank serve' creates it)`);
      say(readFileSync(path, 'utf8').split('\n')[0]!.trim());
    } else if (action === 'rotate') {
      rotateTokenFile(path);
      say(`new operator token written to ${path} (mode 0600); the old one no longer opens the dashboard`);
      if (process.env.FEDRANK_OPERATOR_TOKEN !== undefined)
        say('note: FEDRANK_OPERATOR_TOKEN is set in this shell; a server started with it ignores the file');
    } else
      throw new FedrankError('CLI_BAD_ARGUMENT', `unknown action '${action ?? ''}': path, show or rotate`);
    return 0;
  });
}
