import { describe, expect, it } from 'vitest';
import { createTurnBudget } from './turns.ts';

/** A clock the test moves: work "takes" the time the test says. */
function fakeNow() {
  let t = 0;
  return { now: () => t, spend: (ms: number) => (t += ms) };
}
const turn = () => new Promise<void>((r) => setImmediate(r));

describe('turn budget', () => {
  it('runs work at once while the turn has budget, then queues it for the next turn, in order', async () => {
    const clock = fakeNow();
    const errors: unknown[] = [];
    const b = createTurnBudget({ sliceMs: 5, now: clock.now, onError: (e) => errors.push(e) });
    const ran: number[] = [];
    for (let i = 0; i < 10; i++)
      b.run(() => {
        ran.push(i);
        clock.spend(2); // each piece of work takes 2 ms
      });
    // 0 at t=0, 1 at t=2, 2 at t=4; at t=6 the 5 ms budget is spent: the rest waits.
    expect(ran).toEqual([0, 1, 2]);
    expect(b.waiting()).toBe(7);
    expect(b.mustWait()).toBe(true);
    await turn();
    // The next turn spends its own 5 ms on the queue: three more, in arrival order.
    expect(ran).toEqual([0, 1, 2, 3, 4, 5]);
    // New work arriving while older work waits goes behind it.
    b.run(() => ran.push(99));
    expect(ran).toEqual([0, 1, 2, 3, 4, 5]);
    for (let i = 0; i < 5 && b.waiting() > 0; i++) await turn();
    expect(ran).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 99]);
    expect(b.waiting()).toBe(0);
    expect(errors).toEqual([]);
    // An empty queue and a fresh turn: work runs at once again.
    await turn();
    b.run(() => ran.push(100));
    expect(ran.at(-1)).toBe(100);
  });

  it('exactly at the budget, work waits; just under it, work runs', async () => {
    const clock = fakeNow();
    const b = createTurnBudget({ sliceMs: 5, now: clock.now, onError: () => {} });
    const ran: string[] = [];
    b.run(() => clock.spend(4.999));
    b.run(() => ran.push('under'));
    expect(ran).toEqual(['under']);
    clock.spend(0.001); // 5 ms spent
    b.run(() => ran.push('at'));
    expect(ran).toEqual(['under']);
    await turn();
    expect(ran).toEqual(['under', 'at']);
  });

  it('a budget smaller than the time between two clock readings still runs one piece per turn', async () => {
    // A real clock moves between two readings: a 0.001 ms budget is spent before the first piece.
    let t = 0;
    const b = createTurnBudget({ sliceMs: 0.001, now: () => (t += 0.01), onError: () => {} });
    const ran: number[] = [];
    for (let i = 0; i < 5; i++) b.run(() => ran.push(i));
    expect(ran).toEqual([0]);
    for (let i = 0; i < 20 && b.waiting() > 0; i++) await turn();
    expect(ran).toEqual([0, 1, 2, 3, 4]);
  });

  it('sliceMs 0 never queues', () => {
    const clock = fakeNow();
    const b = createTurnBudget({ sliceMs: 0, now: clock.now, onError: () => {} });
    let n = 0;
    for (let i = 0; i < 100; i++)
      b.run(() => {
        n++;
        clock.spend(10);
      });
    expect(n).toBe(100);
    expect(b.waiting()).toBe(0);
  });

  it('a queued function that throws is reported and the queue goes on; runAll empties the queue now', async () => {
    const clock = fakeNow();
    const errors: unknown[] = [];
    const b = createTurnBudget({ sliceMs: 1, now: clock.now, onError: (e) => errors.push(e) });
    const ran: number[] = [];
    b.run(() => clock.spend(1));
    b.run(() => {
      throw new Error('boom');
    });
    b.run(() => ran.push(1));
    b.run(() => ran.push(2));
    expect(b.waiting()).toBe(3);
    b.runAll();
    expect(ran).toEqual([1, 2]);
    expect(errors.map((e) => (e as Error).message)).toEqual(['boom']);
    expect(b.waiting()).toBe(0);
    await turn(); // the scheduled turn end finds nothing to do
    expect(ran).toEqual([1, 2]);
  });

  it('yields to I/O: a timer due during a long backlog runs before the backlog is done', async () => {
    // Real time: 200 pieces of 1 ms busy work with a 5 ms budget take at least 40 turns; a
    // setTimeout(0) set at the start fires long before the last piece.
    const b = createTurnBudget({ sliceMs: 5, onError: () => {} });
    let done = 0;
    let timerAt = -1;
    setTimeout(() => {
      timerAt = done;
    }, 0);
    const busy = (ms: number) => {
      const end = performance.now() + ms;
      while (performance.now() < end);
    };
    for (let i = 0; i < 200; i++)
      b.run(() => {
        busy(1);
        done++;
      });
    for (let i = 0; i < 10_000 && b.waiting() > 0; i++) await turn();
    expect(done).toBe(200);
    expect(timerAt).toBeGreaterThanOrEqual(0);
    expect(timerAt).toBeLessThan(200);
  });
});
