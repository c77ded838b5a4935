/** Entry of the `fedrank` command: dispatches to one module per subcommand, loaded on demand. */

/** A subcommand: receives its arguments, returns the process exit code. */
export type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run: Command }> }> = {
  privacy: {
    summary:
      'what a configuration guarantees to each party; epsilon for a noise level, or noise for a target',
    load: () => import('./privacy.ts'),
  },
  serve: { summary: 'run the aggregation server', load: () => import('./serve.ts') },
  token: { summary: 'where the operator token is; show or rotate it', load: () => import('./token.ts') },
  doctor: {
    summary: "check a storefront's integration with this server (origins, SDK files, CORS, clock)",
    load: () => import('./doctor.ts'),
  },
  eval: {
    summary: 'simulate federated training on a dataset and measure ranking quality',
    load: () => import('./eval.ts'),
  },
  start: { summary: 'run server, demo storefront and dashboard locally', load: () => import('./start.ts') },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`);
  return [
    'usage: fedrank <command> [options]',
    '',
    'commands:',
    ...lines,
    '',
    'fedrank <command> --help for options',
  ].join('\n');
}

/** Runs the CLI; returns the exit code (2 for usage errors). */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`fedrank: unknown command '${name}'\n${usage()}\n`);
    return 2;
  }
  const mod = await cmd.load();
  return mod.run(rest);
}
