/**
 * The operator token when none is configured: generated (crypto random), kept in a file with mode 0600
 * beside the database, rotated on request. Both `npm start` and `fedrank serve` use the same file name.
 * Also where the server resolves the token it checks (env, config, file) and follows a rotated file.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigInvalidError } from './config-check.ts';
import type { ServerConfig } from './config.ts';

/** File name of the token inside the data folder (beside the database). */
export const TOKEN_FILE = 'operator-token';

/** Creates the data folder (0700) when missing. */
export function ensureDataDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Where a generated token lives for database `db`: beside it (the current folder for ':memory:'). */
export function tokenPathFor(db: string): string {
  return join(db === ':memory:' ? resolve('.') : dirname(resolve(db)), TOKEN_FILE);
}

/** A fresh 32-byte random token. */
function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Writes `token` to `path` atomically (temp file + rename), mode 0600, so a reader never sees half a token. */
function writeToken(path: string, token: string): void {
  ensureDataDir(dirname(path));
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, token + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** Reads the token file at `path`, generating a new token when it is missing or too short. */
export function ensureTokenFile(path: string): { token: string; path: string; created: boolean } {
  if (existsSync(path)) {
    const token = readFileSync(path, 'utf8').split('\n')[0]!.trim();
    if (token.length >= 16) {
      chmodSync(path, 0o600);
      return { token, path, created: false };
    }
  }
  const token = newToken();
  writeToken(path, token);
  return { token, path, created: true };
}

/** Reads the token from data folder `dir`, generating it on first use; returns token and path. */
export function ensureOperatorToken(dir: string): { token: string; path: string; created: boolean } {
  ensureDataDir(dir);
  return ensureTokenFile(join(dir, TOKEN_FILE));
}

/** Replaces the token in `path` with a new one; a running server picks it up at its next admin request. */
export function rotateTokenFile(path: string): { token: string; path: string } {
  const token = newToken();
  writeToken(path, token);
  return { token, path };
}

/** Identity of the file's current content (inode, mtime, size: rotation renames a new file in), or null. */
export function tokenFileVersion(path: string): string | null {
  try {
    const s = statSync(path);
    return `${s.ino}:${s.mtimeMs}:${s.size}`;
  } catch {
    return null;
  }
}

function bad(path: string, reason: string): never {
  throw new ConfigInvalidError([{ path, reason }]);
}

/**
 * The operator token: FEDRANK_OPERATOR_TOKEN, else config.operatorToken, else the first line of
 * operatorTokenFile. There is no default; a short token is refused.
 */
export function resolveOperatorToken(config: ServerConfig, env: NodeJS.ProcessEnv = process.env): string {
  let token = env.FEDRANK_OPERATOR_TOKEN ?? config.operatorToken;
  if (token === undefined && config.operatorTokenFile !== undefined) {
    try {
      token = readFileSync(config.operatorTokenFile, 'utf8').split('\n')[0]!.trim();
    } catch (err) {
      bad(
        'operatorTokenFile',
        `cannot read ${config.operatorTokenFile} (${(err as NodeJS.ErrnoException).code})`,
      );
    }
  }
  if (token === undefined || token === '')
    bad(
      'operatorToken',
      'no operator token: set FEDRANK_OPERATOR_TOKEN or operatorTokenFile (there is no default)',
    );
  if (token.length < 16) bad('operatorToken', 'the operator token must be at least 16 characters');
  return token;
}

/**
 * The operator token as a function: resolved now (throws like resolveOperatorToken), and when it comes
 * from operatorTokenFile re-read whenever the file changes, so `fedrank token rotate` takes effect
 * without a restart (the old token stops working at once).
 */
export function operatorTokenSource(
  config: ServerConfig,
  env: NodeJS.ProcessEnv = process.env,
): () => string {
  let token = resolveOperatorToken(config, env);
  const file = config.operatorTokenFile;
  if (env.FEDRANK_OPERATOR_TOKEN !== undefined || config.operatorToken !== undefined || file === undefined)
    return () => token;
  let version = tokenFileVersion(file);
  return () => {
    const now = tokenFileVersion(file);
    if (now !== null && now !== version) {
      version = now;
      const next = readFileSync(file, 'utf8').split('\n')[0]!.trim();
      // A file being rewritten by hand may be briefly short: keep the last good token until it is whole.
      if (next.length >= 16) token = next;
    }
    return token;
  };
}
