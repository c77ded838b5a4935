/** `fedrank eval`: federated, private training simulated on a shopper dataset, measured by full ranking. */
import { registerTfjsResolveHook } from './tfjs-node.ts';
import { runCli } from '../node/args.ts';

/** Runs the subcommand; returns the exit code. */
export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    const { USAGE } = await import('../eval/usage.ts');
    process.stdout.write(USAGE);
    return 0;
  }
  // tfjs-core's ESM gradient files use extensionless imports that plain Node cannot resolve.
  registerTfjsResolveHook();
  const { main } = await import('../eval/main.ts');
  return runCli(() => main(argv));
}
