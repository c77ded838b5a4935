/** `fedrank serve [--config FILE] [--port N] [--host H] [--db FILE] [--store URL] [--log-level L]`: runs the aggregation server. */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { intOption, parseArgs, runCli } from '../node/args.ts';
import { storeAddress } from '../server/store/open.ts';
import { startFailure } from './start-failure.ts';
import { startServer } from '../server/app.ts';
import { makeConfig, readConfigFile, type ServerConfig } from '../server/config.ts';
import { ensureTokenFile, tokenPathFor } from '../server/operator-token.ts';
import { FedrankError } from '../shared/errors.ts';

const HELP = `usage: fedrank serve [--config FILE.json] [--port N] [--host ADDR] [--db FILE] [--store URL] [--log-level LEVEL]

--store postgres://USER@HOST:PORT/DB (or FEDRANK_STORE) keeps all state in PostgreSQL, so several serve
processes behind one load balancer share the rounds; without it the state is in the SQLite file --db.

Runs the aggregation server. Flags override the config file; the file overrides defaults.
Operator token (dashboard and /v1/admin): FEDRANK_OPERATOR_TOKEN, else the config's operatorToken or
operatorTokenFile; with none of them, one is generated on first start and kept (mode 0600) in the file
'operator-token' beside the database. The path is printed at start, never the token:
'fedrank token show --db FILE' prints it, 'fedrank token rotate --db FILE' replaces it.
`;

/**
 * Where the operator token comes from; generates the token file beside the database when nothing is
 * configured. Returns the config to run with and a sentence for the operator.
 */
export function withOperatorToken(
  config: ServerConfig,
  env: NodeJS.ProcessEnv = process.env,
): { config: ServerConfig; where: string } {
  if (env.FEDRANK_OPERATOR_TOKEN !== undefined)
    return { config, where: 'operator token: from FEDRANK_OPERATOR_TOKEN' };
  if (config.operatorToken !== undefined) return { config, where: 'operator token: from the config file' };
  if (config.operatorTokenFile !== undefined)
    return { config, where: `operator token: in ${resolve(config.operatorTokenFile)}` };
  if (config.db === ':memory:')
    throw new FedrankError(
      'CONFIG_INVALID',
      'operatorToken: an in-memory database needs FEDRANK_OPERATOR_TOKEN',
    );
  const { path, created } = ensureTokenFile(tokenPathFor(config.db));
  return {
    config: { ...config, operatorTokenFile: path },
    where: `operator token: ${created ? 'generated in' : 'in'} ${path} (mode 0600; 'fedrank token show --db ${config.db}' prints it)`,
  };
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  return runCli(async () => {
    const args = parseArgs(argv, ['config', 'port', 'host', 'db', 'store', 'log-level']);
    if (args.positionals.length > 0)
      throw new FedrankError('CLI_BAD_ARGUMENT', `unexpected argument '${args.positionals[0]}'`);
    const file = args.options.get('config');
    const flags: Record<string, unknown> = {};
    if (args.options.has('port')) flags.port = intOption(args, 'port', 0, 65535);
    if (args.options.has('host')) flags.host = args.options.get('host');
    if (args.options.has('db')) flags.db = args.options.get('db');
    const store = args.options.get('store') ?? process.env.FEDRANK_STORE;
    if (store) flags.store = store;
    if (args.options.has('log-level')) flags.logLevel = args.options.get('log-level');
    const base = makeConfig(file ? readConfigFile(file) : undefined, flags);
    if (base.db !== ':memory:') mkdirSync(dirname(resolve(base.db)), { recursive: true, mode: 0o700 });
    const { config, where } = withOperatorToken(base);
    const server = await startServer(config).catch((err: unknown) => {
      throw startFailure(err, config);
    });
    const say = (line: string): void => void process.stdout.write(line + '\n');
    const database = config.store ? storeAddress(config.store) : resolve(config.db);
    say(`fedrank serve: listening on ${server.url} (database ${database})`);
    say(`dashboard: ${server.url}/dashboard/`);
    say(where);
    server.app.log.info(
      { url: server.url, dashboard: `${server.url}/dashboard/`, tokenFile: config.operatorTokenFile },
      'fedrank serve listening',
    );
    await new Promise<void>((done) => {
      const stop = (): void => {
        void server.close().finally(done);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return 0;
  });
}
