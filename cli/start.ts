/**
 * `fedrank start`: the whole loop locally. Creates the data folder and operator token, builds the browser
 * SDK when needed, starts the aggregation server (SQLite in the data folder) and the demo storefront, prints
 * their URLs and the token, and optionally runs simulated shoppers so the dashboard moves.
 */
import { registerTfjsResolveHook } from './tfjs-node.ts';
import { resolve } from 'node:path';
import { intOption, parseArgs, runCli } from '../node/args.ts';
import { startFailure } from './start-failure.ts';
import { FedrankError } from '../shared/errors.ts';
import { readConfigFile } from '../server/config.ts';
import { ensureClientBuilt } from '../demo/build-client.ts';
import { startStack } from '../demo/stack.ts';
import { loadCatalog } from '../demo/shop-server.ts';
import type { ShopperSim } from '../demo/shoppers.ts';

const HELP = `usage: fedrank start [options]

  --port N          aggregation server port (default 8787)
  --shop-port N     demo storefront port (default 8080)
  --data DIR        data folder: database and operator token (default .fedrank-data)
  --config FILE     server configuration overrides (JSON, see fedrank serve)
  --shoppers N      simulated shoppers training against the server (default 0)
  --no-build        do not (re)build the browser SDK even when dist/client is stale
`;

/** Runs the local demo until SIGINT/SIGTERM. */
export async function run(argv: string[]): Promise<number> {
  return runCli(async () => {
    if (argv.includes('--help') || argv.includes('-h')) {
      process.stdout.write(HELP);
      return 0;
    }
    const args = parseArgs(argv, ['port', 'shop-port', 'data', 'config', 'shoppers'], ['no-build']);
    if (args.positionals.length > 0)
      throw new FedrankError('CLI_BAD_ARGUMENT', `unexpected argument '${args.positionals[0]}'`);
    const port = intOption(args, 'port', 1, 65535, 8787);
    const shopPort = intOption(args, 'shop-port', 1, 65535, 8080);
    if (port === shopPort) throw new FedrankError('CLI_BAD_ARGUMENT', '--port and --shop-port must differ');
    const shoppers = intOption(args, 'shoppers', 0, 500, 0);
    const dataDir = resolve(args.options.get('data') ?? '.fedrank-data');
    const cfgPath = args.options.get('config');
    const overrides = cfgPath ? readConfigFile(cfgPath) : undefined;
    if (
      overrides !== undefined &&
      (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides))
    )
      throw new FedrankError('CONFIG_INVALID', `${cfgPath}: must be a JSON object`);

    const say = (line: string): void => void process.stdout.write(line + '\n');
    if (args.options.get('no-build') !== 'true') await ensureClientBuilt(say);

    const stack = await startStack({
      dataDir,
      serverPort: port,
      shopPort,
      ...(overrides ? { server: overrides as Record<string, unknown> } : {}),
    }).catch((err: NodeJS.ErrnoException & { address?: string; port?: number }) => {
      // A listen error names the address that failed (shop or server port).
      throw startFailure(err, {
        db: resolve(dataDir, 'fedrank.db'),
        host: err.address ?? '127.0.0.1',
        port: err.port ?? port,
      });
    });
    say('');
    say(`  fedrank is running (data in ${dataDir})`);
    say('');
    say(`  Shop:        ${stack.shopUrl}/`);
    say(`  Dashboard:   ${stack.dashboardUrl}`);
    say(`  Server API:  ${stack.serverUrl}/v1/model`);
    say(
      `  Operator token (kept in ${stack.tokenPath}; 'fedrank token rotate --db ${stack.dbPath}' replaces it):`,
    );
    say(`    ${stack.token}`);
    say('');

    let sim: ShopperSim | null = null;
    if (shoppers > 0) {
      // tfjs-core's ESM files use extensionless imports plain Node cannot resolve (see the hook).
      registerTfjsResolveHook();
      const { startShoppers } = await import('../demo/shoppers.ts');
      sim = await startShoppers({
        serverUrl: stack.serverUrl,
        shopUrl: stack.shopUrl,
        count: shoppers,
        catalog: loadCatalog(),
        log: say,
      });
    }
    const ticker = sim
      ? setInterval(() => {
          const s = sim!.stats();
          const refused = Object.entries(s.updatesRefused)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ');
          say(
            `shoppers: ${s.clicks} clicks, ${s.updatesAccepted} updates accepted${refused ? `, refused: ${refused}` : ''}`,
          );
        }, 15_000)
      : null;
    say('Press Ctrl+C to stop.');

    await new Promise<void>((done) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        done();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    say('\nstopping ...');
    if (ticker) clearInterval(ticker);
    await sim?.stop();
    await stack.close();
    return 0;
  });
}
