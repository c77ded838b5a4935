export async function run(_argv: string[]): Promise<number> {
  process.stderr.write('fedrank privacy: not built yet\n');
  return 1;
}
