import { describe, expect, it } from 'vitest';
import { decodeTensorView, encodeTensor } from '../shared/codec/tensor-codec.ts';
import { MAX_BATCH, MAX_BATCH_WAIT_MS, UploadQueue } from './upload-queue.ts';

const view = decodeTensorView(
  encodeTensor(
    { kind: 'delta', modelId: 'm', baseVersion: 0, round: 1, encoding: 'f32' },
    new Float32Array(4),
  ),
  { maxCount: 4 },
);
const upload = (i: number) => ({ clientId: `c${i}`, key: `k${i}`, hash: 'h', view });

/** Milliseconds `gather()` took. */
async function timed(q: UploadQueue): Promise<number> {
  const t0 = performance.now();
  await q.gather();
  return performance.now() - t0;
}

describe('group commit policy', () => {
  it('commits a lone upload at once after a batch of one (idle server), however long it took', async () => {
    const q = new UploadQueue();
    q.committed(10_000, 1);
    void q.push(upload(0), 10);
    expect(await timed(q)).toBeLessThan(MAX_BATCH_WAIT_MS);
  });

  it('waits for a body still arriving, and takes it with the batch', async () => {
    const q = new UploadQueue();
    q.committed(10_000, 1);
    void q.push(upload(0), 10);
    const arrived = q.arrive();
    setTimeout(() => {
      void q.push(upload(1), 10);
      arrived();
    }, 1);
    await q.gather();
    expect(q.take().map((s) => s.key)).toEqual(['k0', 'k1']);
  });

  it('waits no longer than the last commit took, nor than MAX_BATCH_WAIT_MS', async () => {
    const q = new UploadQueue();
    q.arrive(); // a body that never completes
    q.committed(0.5, 1);
    expect(await timed(q)).toBeLessThan(MAX_BATCH_WAIT_MS);
    q.committed(10_000, 1);
    const ms = await timed(q);
    expect(ms).toBeGreaterThanOrEqual(MAX_BATCH_WAIT_MS - 2);
    expect(ms).toBeLessThan(MAX_BATCH_WAIT_MS * 20);
  });

  it('under load, lingers until twice the last batch waits, and no longer', async () => {
    const q = new UploadQueue();
    q.committed(10_000, 2);
    void q.push(upload(0), 10);
    for (let i = 1; i < 4; i++) setTimeout(() => void q.push(upload(i), 10), i);
    expect(await timed(q)).toBeLessThan(MAX_BATCH_WAIT_MS);
    expect(q.take().map((s) => s.key)).toEqual(['k0', 'k1', 'k2', 'k3']);
  });

  it('gives up waiting for twice the last batch after the linger bound', async () => {
    const q = new UploadQueue();
    q.committed(10_000, 2);
    for (let i = 0; i < 3; i++) void q.push(upload(i), 10);
    const ms = await timed(q);
    expect(ms).toBeGreaterThanOrEqual(MAX_BATCH_WAIT_MS - 2);
    expect(ms).toBeLessThan(MAX_BATCH_WAIT_MS * 20);
    q.committed(0.5, 2); // a fast commit bounds the linger below a millisecond: none
    expect(await timed(q)).toBeLessThan(MAX_BATCH_WAIT_MS);
  });

  it('takes at most MAX_BATCH uploads, oldest first; a full queue stops the wait', async () => {
    const q = new UploadQueue();
    q.arrive();
    q.committed(10_000, 1);
    for (let i = 0; i <= MAX_BATCH; i++) void q.push(upload(i), 1);
    expect(await timed(q)).toBeLessThan(MAX_BATCH_WAIT_MS);
    const batch = q.take();
    expect(batch).toHaveLength(MAX_BATCH);
    expect(batch[0]!.key).toBe('k0');
    expect(q.length).toBe(1);
  });

  it('refuses an upload beyond the queued-bytes bound, and frees the bytes of a settled one', async () => {
    const q = new UploadQueue();
    const big = 200 * 1024 * 1024;
    const first = q.push(upload(0), big);
    expect(() => q.push(upload(1), big)).toThrow(/too many uploads queued/);
    q.take()[0]!.resolve({ duplicate: false } as never);
    await first;
    expect(() => q.push(upload(2), big)).not.toThrow();
  });
});
