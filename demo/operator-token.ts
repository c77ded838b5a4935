/** The local run's operator token: generated once (crypto random) and kept in the data folder with mode 0600. */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** File name of the token inside the data folder. */
export const TOKEN_FILE = 'operator-token';

/** Creates the data folder (0700) when missing. */
export function ensureDataDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Reads the token from `dir`, generating a new 32-byte random one on first use; returns token and path. */
export function ensureOperatorToken(dir: string): { token: string; path: string; created: boolean } {
  ensureDataDir(dir);
  const path = join(dir, TOKEN_FILE);
  if (existsSync(path)) {
    const token = readFileSync(path, 'utf8').split('\n')[0]!.trim();
    if (token.length >= 16) {
      chmodSync(path, 0o600);
      return { token, path, created: false };
    }
  }
  const token = randomBytes(32).toString('base64url');
  // 'wx' would fail on a short/corrupt leftover file, so overwrite it explicitly with a private mode.
  writeFileSync(path, token + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
  return { token, path, created: true };
}
