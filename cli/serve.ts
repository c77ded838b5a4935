/** `fedrank serve [--config FILE] [--port N] [--host H] [--db FILE] [--store URL] [--log-level L]`: runs the aggregation server. */
import { intOption, parseArgs, runCli } from './args.ts';
import { startServer } from '../server/app.ts';
import { makeConfig, readConfigFile } from '../server/config.ts';
import { isFedrankError } from '../shared/errors.ts';

const HELP = `usage: fedrank serve [--config FILE.json] [--port N] [--host ADDR] [--db FILE] [--store URL] [--log-level LEVEL]

--store postgres://USER@HOST:PORT/DB (or FEDRANK_STORE) keeps all state in PostgreSQL, so several serve
processes behind one load balancer share the rounds; without it the state is in the SQLite file --db.

Runs the aggregation server. The operator token comes from FEDRANK_OPERATOR_TOKEN or the config's
operatorTokenFile (there is no default). Flags override the config file; the file overrides defaults.
`;

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  return runCli(async () => {
    const args = parseArgs(argv, ['config', 'port', 'host', 'db', 'store', 'log-level']);
    const file = args.options.get('config');
    const flags: Record<string, unknown> = {};
    if (args.options.has('port')) flags.port = intOption(args, 'port', 0, 65535);
    if (args.options.has('host')) flags.host = args.options.get('host');
    if (args.options.has('db')) flags.db = args.options.get('db');
    const store = args.options.get('store') ?? process.env.FEDRANK_STORE;
    if (store) flags.store = store;
    if (args.options.has('log-level')) flags.logLevel = args.options.get('log-level');
    const config = makeConfig(file ? readConfigFile(file) : undefined, flags);
    let server: Awaited<ReturnType<typeof startServer>>;
    try {
      server = await startServer(config);
    } catch (err) {
      // Operational start-up failures get one line too (the store, the port), exit code 1.
      const e = err as { code?: string; message?: string };
      if (isFedrankError(err) && err.code === 'CONFIG_INVALID') throw err;
      if (
        isFedrankError(err) ||
        e.code === 'EADDRINUSE' ||
        e.code === 'EACCES' ||
        e.code === 'SQLITE_CANTOPEN' ||
        // PostgreSQL unreachable, unknown database, authentication refused
        e.code === 'ECONNREFUSED' ||
        e.code === 'ENOTFOUND' ||
        e.code === '3D000' ||
        e.code === '28P01' ||
        e.code === '28000'
      ) {
        process.stderr.write(
          `fedrank serve: ${e.code ?? 'ERROR'}: ${(e.message ?? String(err)).split('\n')[0]}\n`,
        );
        return 1;
      }
      throw err;
    }
    server.app.log.info(
      { url: server.url, dashboard: `${server.url}/dashboard/` },
      'fedrank serve listening',
    );
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        void server.close().finally(resolve);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return 0;
  });
}
