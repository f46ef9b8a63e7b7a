// The open sensor cases by device and rule (issue 10, item 7), in memory.
import { describe, expect, it } from 'vitest';
import { createMemoryOpenCaseIndex } from './open-index.ts';
import type { CaseRecord } from './repo.ts';

const record = (over: Partial<CaseRecord>): CaseRecord =>
  ({
    id: 'C1',
    source: 'sensor',
    status: 'registered',
    deviceId: 'bin-1',
    ruleId: 'full',
    ...over,
  }) as CaseRecord;

describe('open case index', () => {
  it('keeps the latest version of an open sensor case and drops it once closed or rejected', () => {
    const idx = createMemoryOpenCaseIndex();
    idx.remember(record({}));
    idx.remember(record({ status: 'dispatched' }));
    expect(idx.get('bin-1', 'full')?.status).toBe('dispatched');
    idx.remember(record({ status: 'closed' }));
    expect(idx.get('bin-1', 'full')).toBeUndefined();
    idx.remember(record({ id: 'C2' }));
    idx.remember(record({ id: 'C2', status: 'rejected' }));
    expect(idx.size()).toBe(0);
  });

  it('a closed older case never evicts the newer open one of the same device and rule', () => {
    const idx = createMemoryOpenCaseIndex();
    idx.remember(record({ id: 'C2' }));
    idx.remember(record({ id: 'C1', status: 'closed' }));
    expect(idx.get('bin-1', 'full')?.id).toBe('C2');
  });

  it('ignores reported cases; keys device and rule apart', () => {
    const idx = createMemoryOpenCaseIndex();
    idx.remember(record({ source: 'report', deviceId: null, ruleId: null }));
    idx.remember(record({ deviceId: 'bin-1', ruleId: 'offline' }));
    expect(idx.size()).toBe(1);
    expect(idx.get('bin-1', 'full')).toBeUndefined();
    idx.clear();
    expect(idx.get('bin-1', 'offline')).toBeUndefined();
  });
});
