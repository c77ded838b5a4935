/** Prints the README's error-code table from the catalogue (`npx tsx cli/errors-table.ts`). */
import { ERRORS } from '../shared/errors.ts';

const rows = Object.entries(ERRORS).map(
  ([code, e]) => `| \`${code}\` | ${e.status === 0 ? '—' : e.status} | ${e.message} |`,
);
process.stdout.write(['| code | HTTP | message |', '|---|---|---|', ...rows].join('\n') + '\n');
