import { describe, expect, it } from 'vitest';
import { initialState } from './evaluate.ts';
import { createMemoryRuleStateStore } from './state-store.ts';

const st = (since: number) => ({ ...initialState(), active: true, since });

describe('in-memory rule state store', () => {
  it('holds one state per rule and device', () => {
    const s = createMemoryRuleStateStore();
    expect(s.get('r1', 'd1')).toBeUndefined();
    s.set('r1', 'd1', st(1));
    s.set('r1', 'd1', st(2)); // replaces
    s.set('r2', 'd1', st(3));
    s.set('r1', 'd2', st(4));
    expect(s.size).toBe(3);
    expect(s.get('r1', 'd1')?.since).toBe(2);
    expect(s.get('r2', 'd1')?.since).toBe(3);
    expect(s.get('r1', 'd2')?.since).toBe(4);
    expect(s.get('r2', 'd2')).toBeUndefined();
  });

  it('deletes one pair, a rule across devices, a device across rules, or everything', () => {
    const s = createMemoryRuleStateStore();
    for (const r of ['r1', 'r2', 'r3']) for (const d of ['d1', 'd2', 'd3']) s.set(r, d, st(1));
    expect(s.size).toBe(9);
    s.delete('r1', 'd1');
    s.delete('r1', 'd1'); // twice: nothing more goes
    s.delete('nope', 'd1');
    expect(s.size).toBe(8);
    expect(s.get('r1', 'd1')).toBeUndefined();
    s.deleteRule('r2');
    expect(s.size).toBe(5);
    expect(['d1', 'd2', 'd3'].map((d) => s.get('r2', d))).toEqual([undefined, undefined, undefined]);
    s.deleteDevice('d3');
    expect(s.size).toBe(3);
    expect(s.get('r3', 'd3')).toBeUndefined();
    expect(s.get('r3', 'd2')).toBeDefined();
    s.deleteDevice('d3');
    expect(s.size).toBe(3);
    s.clear();
    expect(s.size).toBe(0);
    expect(s.get('r3', 'd2')).toBeUndefined();
  });

  it('ids that would collide if joined into one key stay apart', () => {
    const s = createMemoryRuleStateStore();
    s.set('a\u0000b', 'c', st(1));
    s.set('a', 'b\u0000c', st(2));
    expect(s.get('a\u0000b', 'c')?.since).toBe(1);
    expect(s.get('a', 'b\u0000c')?.since).toBe(2);
    s.deleteDevice('c');
    expect(s.get('a', 'b\u0000c')?.since).toBe(2);
  });
});
