// The registry's process-local state behind its interfaces (issue 10, item 7): device tokens,
// presence, sessions and sign-in throttles, in their in-memory implementations.
import { describe, expect, it } from 'vitest';
import { createMemoryPresenceStore, createPresence } from './presence.ts';
import { createMemorySessionStore } from './sessions.ts';
import { createMemoryThrottle } from './throttle.ts';
import { createMemoryTokenIndex, hashToken } from './tokens.ts';

describe('token index', () => {
  it('maps a token hash to its device and forgets the old hash when the token changes', () => {
    const t = createMemoryTokenIndex();
    t.set('d1', hashToken('one'));
    expect(t.deviceOf(hashToken('one'))).toBe('d1');
    expect(t.hashOf('d1')).toBe(hashToken('one'));
    t.set('d1', hashToken('two'));
    expect(t.deviceOf(hashToken('one'))).toBeUndefined();
    expect(t.deviceOf(hashToken('two'))).toBe('d1');
    t.set('d1', null);
    expect(t.deviceOf(hashToken('two'))).toBeUndefined();
    expect(t.hashOf('d1')).toBeUndefined();
  });

  it('clear forgets every device', () => {
    const t = createMemoryTokenIndex();
    t.set('a', 'h1');
    t.set('b', 'h2');
    t.clear();
    expect([t.deviceOf('h1'), t.deviceOf('h2'), t.hashOf('a')]).toEqual([undefined, undefined, undefined]);
  });
});

describe('presence', () => {
  it('tells listeners only of a change, keeps the last reading time, forgets a deleted device', () => {
    const store = createMemoryPresenceStore();
    const p = createPresence(store);
    const heard: string[] = [];
    const off = p.onChange((id, s) => heard.push(`${id}:${s}`));
    p.seen('d1', 1000);
    expect(p.status('d1')).toBe('offline');
    expect(p.lastSeen('d1')).toBe(1000);
    p.connected('d1', true);
    p.connected('d1', true);
    p.seen('d1', 2000);
    expect(p.status('d1')).toBe('online');
    expect(p.lastSeen('d1')).toBe(2000);
    p.connected('d1', false);
    expect(heard).toEqual(['d1:online', 'd1:offline']);
    off();
    p.connected('d1', true);
    expect(heard).toHaveLength(2);
    p.forget('d1');
    expect(store.get('d1')).toBeUndefined();
    expect(p.lastSeen('d1')).toBeNull();
  });
});

describe('sign-in throttle', () => {
  const opts = { freeFailures: 2, windowMs: 60_000, baseDelayMs: 1000, maxDelayMs: 4000, maxKeys: 2 };

  it('lets the free failures through, then waits, doubling up to the cap; success forgets', () => {
    let now = 0;
    const t = createMemoryThrottle(() => now, opts);
    t.fail('u');
    expect(t.wait('u')).toBe(0);
    t.fail('u');
    expect(t.wait('u')).toBe(1000);
    t.fail('u');
    expect(t.wait('u')).toBe(2000);
    for (let i = 0; i < 5; i++) t.fail('u');
    expect(t.wait('u')).toBe(4000);
    now += 4000;
    expect(t.wait('u')).toBe(0);
    t.succeed('u');
    expect(t.size()).toBe(0);
  });

  it('holds at most maxKeys (the oldest goes) and purges keys whose window is over', () => {
    let now = 0;
    const t = createMemoryThrottle(() => now, opts);
    t.fail('a');
    t.fail('b');
    t.fail('c');
    expect(t.size()).toBe(2);
    now += 60_001;
    t.purge();
    expect(t.size()).toBe(0);
  });
});

describe('session store', () => {
  it("holds sessions by token hash; deleting while walking them (ending a user's sessions) is safe", () => {
    const s = createMemorySessionStore();
    const session = (userId: string) => ({ userId, createdAt: 0, expiresAt: 10, lastUsed: 0, written: 0 });
    s.set('h1', session('u1'));
    s.set('h2', session('u1'));
    s.set('h3', session('u2'));
    for (const [h, x] of s.entries()) if (x.userId === 'u1') s.delete(h);
    expect(s.size()).toBe(1);
    expect(s.get('h3')?.userId).toBe('u2');
    expect(s.get('h1')).toBeUndefined();
    s.clear();
    expect(s.size()).toBe(0);
  });
});
