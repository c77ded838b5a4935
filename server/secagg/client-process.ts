/**
 * One simulated client in a child process of its own (client-process-main.ts), for simulateRound's
 * `beginElsewhere`: its heap, collector and WebCrypto pool carry only its own round, as in a browser
 * worker, where the in-process simulation charges every client part of the other 99 clients' garbage.
 * Messages cross as the codec's bytes; the child times each step in its own process CPU. Used by the
 * benchmark (bench/secagg-run.ts) and its test.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { type ErrorCode, FedrankError } from '../../shared/errors.ts';
import { decodeMessage, encodeMessage } from '../../shared/secagg/codec.ts';
import type { AdvertiseKeys, MaskedInput, ShareKeys, Unmask } from '../../shared/secagg/messages.ts';
import type { ClientStep, SimulatedClient } from './simulate.ts';

/** A request to the child: one step of one client, the server's message as bytes. */
export type ClientRequest = { id: number } & (
  | { op: 'begin'; round: number; slot: number }
  | { op: 'roster' | 'unmask-request'; bytes: Uint8Array }
  | { op: 'shares-in'; bytes: Uint8Array; update: Float32Array }
);

/** The child's answer: the client's message as bytes, and the CPU ms the step took in the child. */
export interface ClientReply {
  id: number;
  cpuMs: number;
  bytes?: Uint8Array;
  input?: Uint32Array;
  error?: string;
  /** The refusal's catalogued code, when the step refused (FedrankError), and its detail. */
  code?: ErrorCode;
  detail?: string;
}

/** This process's CPU time so far (user + system), in ms: the clock the child and the benchmarks read. */
export function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

type Pending = { resolve: (r: ClientReply) => void; reject: (e: Error) => void };
type StepRequest = ClientRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

/** A child process that runs clients' rounds one step at a time; close it when done. */
export class ClientProcess {
  /** CPU ms of each step of the last client begun here, measured in the child. */
  stepMs: Record<ClientStep, number> = { advertise: 0, share: 0, mask: 0, unmask: 0 };
  private next = 1;
  private readonly pending = new Map<number, Pending>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (r: ClientReply) => {
      const p = this.pending.get(r.id);
      this.pending.delete(r.id);
      // A refusal keeps its code across the process boundary (the simulation tells them apart).
      if (r.error) p?.reject(r.code ? new FedrankError(r.code, r.detail) : new Error(r.error));
      else p?.resolve(r);
    });
    child.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`client process exited (${code})`));
      this.pending.clear();
    });
  }

  /** Forks the child (TypeScript through tsx, as the benchmark runs). */
  static start(): ClientProcess {
    const entry = new URL('./client-process-main.ts', import.meta.url);
    return new ClientProcess(
      fork(entry, [], { execArgv: ['--import', 'tsx'], serialization: 'advanced', stdio: 'inherit' }),
    );
  }

  private call(req: StepRequest, step: ClientStep): Promise<ClientReply> {
    const id = this.next++;
    return new Promise<ClientReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ ...req, id });
    }).then((r) => {
      this.stepMs[step] += r.cpuMs;
      return r;
    });
  }

  /** simulateRound's `beginElsewhere` for this child: starts the client of (round, slot) here. */
  async begin(round: number, slot: number): Promise<{ client: SimulatedClient; message: AdvertiseKeys }> {
    this.stepMs = { advertise: 0, share: 0, mask: 0, unmask: 0 };
    const first = await this.call({ op: 'begin', round, slot }, 'advertise');
    const reply = async <T>(r: Promise<ClientReply>): Promise<T> => decodeMessage((await r).bytes!) as T;
    const client: SimulatedClient = {
      onRoster: (m) => reply<ShareKeys>(this.call({ op: 'roster', bytes: encodeMessage(m) }, 'share')),
      onSharesIn: async (m, update) => {
        const r = await this.call({ op: 'shares-in', bytes: encodeMessage(m), update }, 'mask');
        return { message: decodeMessage(r.bytes!) as MaskedInput, input: r.input! };
      },
      onUnmaskRequest: (m) =>
        reply<Unmask>(this.call({ op: 'unmask-request', bytes: encodeMessage(m) }, 'unmask')),
    };
    return { client, message: decodeMessage(first.bytes!) as AdvertiseKeys };
  }

  /** Ends the child. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null) return resolve();
      this.child.once('exit', () => resolve());
      this.child.kill();
    });
  }
}
