// The few Web-platform globals that exist in both browsers and Node 20, declared here because shared/
// compiles with neither DOM nor Node types (so a platform-specific import fails to compile).
declare global {
  interface SharedCrypto {
    getRandomValues<T extends Uint8Array | Uint32Array | Int32Array>(array: T): T;
    randomUUID(): string;
  }
  var crypto: SharedCrypto;
  class TextEncoder {
    encode(input?: string): Uint8Array;
  }
  class TextDecoder {
    constructor(label?: string, options?: { fatal?: boolean });
    decode(input?: Uint8Array): string;
  }
  var performance: { now(): number };
}
export {};
