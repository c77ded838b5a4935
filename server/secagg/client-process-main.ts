/**
 * The child side of server/secagg/client-process.ts: runs SecAggClientRound in a process of its own, as a
 * browser worker runs one client, and reports the CPU each step took here. Started by ClientProcess only.
 */
import { isFedrankError } from '../../shared/errors.ts';
import { decodeMessage, encodeMessage } from '../../shared/secagg/codec.ts';
import { SecAggClientRound } from '../../shared/secagg/client.ts';
import type { Roster, SharesIn, UnmaskRequest } from '../../shared/secagg/messages.ts';
import { type ClientReply, type ClientRequest, processCpuMs as cpuMs } from './client-process.ts';

const clients = new Map<string, SecAggClientRound>();
const key = (round: number, slot: number): string => `${round}/${slot}`;

/** One step, bytes in and bytes out as on the wire: decoding and encoding count, as a browser does them. */
async function step(req: ClientRequest): Promise<Omit<ClientReply, 'id' | 'cpuMs'>> {
  if (req.op === 'begin') {
    const { client, message } = await SecAggClientRound.begin(req.round, req.slot);
    clients.set(key(req.round, req.slot), client);
    return { bytes: encodeMessage(message) };
  }
  const m = decodeMessage(req.bytes);
  const client = clients.get(key(m.round, m.slot));
  if (!client) throw new Error(`no client for round ${m.round} slot ${m.slot}`);
  if (req.op === 'roster') return { bytes: encodeMessage(await client.onRoster(m as Roster)) };
  if (req.op === 'shares-in') {
    const out = await client.onSharesIn(m as SharesIn, req.update);
    return { bytes: encodeMessage(out.message), input: out.input };
  }
  clients.delete(key(m.round, m.slot));
  return { bytes: encodeMessage(client.onUnmaskRequest(m as UnmaskRequest)) };
}

process.on('message', (req: ClientRequest) => {
  const t0 = cpuMs();
  step(req).then(
    (r) => process.send!({ ...r, id: req.id, cpuMs: cpuMs() - t0 } satisfies ClientReply),
    (e: unknown) =>
      process.send!({
        id: req.id,
        cpuMs: cpuMs() - t0,
        error: String(e),
        ...(isFedrankError(e) ? { code: e.code, detail: e.detail } : {}),
      } satisfies ClientReply),
  );
});
