/**
 * Test seams of the browser worker, compiled in only by the e2e build (`FEDRANK_TEST_SEAMS=1 vite build`,
 * into dist/client-seams/): the production build defines __FEDRANK_TEST_SEAMS__ as false, so this module's
 * seam folds to undefined and its code is dropped from the worker chunk (a check in e2e/scenarios/secagg/).
 */
import type { EncodedInputSeam } from '../../shared/device/secagg-submitter.ts';
import { WasmEncoder } from '../../shared/secagg/encoder-wasm.ts';
import { packRing } from '../../shared/secagg/ring.ts';

// Replaced at build time by vite.config.ts; undefined where no bundler ran (unit tests).
declare const __FEDRANK_TEST_SEAMS__: boolean | undefined;

/** First argument of the console line that carries a survivor's encoded input to the e2e scenario. */
export const SEAM_TAG = 'fedrank-test-seam:encoded-input';

/** What the console line's second argument holds (JSON); `input` is base64 of the packed ring vector. */
export interface EncodedInputLine {
  secureRound: number;
  slot: number;
  bits: number;
  d: number;
  input: string;
  /** Where this worker's encoding ran: the WebAssembly kernels, or their JavaScript twins. */
  kernels: 'webassembly' | 'javascript';
}

function base64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000)
    s += String.fromCharCode(...bytes.subarray(i, Math.min(bytes.length, i + 0x8000)));
  return btoa(s);
}

const logEncodedInput: EncodedInputSeam = ({ secureRound, slot, bits, input }) => {
  const line: EncodedInputLine = {
    secureRound,
    slot,
    bits,
    d: input.length,
    input: base64(packRing(input, bits)),
    kernels: WasmEncoder.get() ? 'webassembly' : 'javascript',
  };
  console.debug(SEAM_TAG, JSON.stringify(line));
};

/** The encoded-input seam to give the secure submitter: undefined in every build but the e2e one. */
export const encodedInputSeam: EncodedInputSeam | undefined =
  typeof __FEDRANK_TEST_SEAMS__ !== 'undefined' && __FEDRANK_TEST_SEAMS__ ? logEncodedInput : undefined;
