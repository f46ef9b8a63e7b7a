import { describe, expect, it } from 'vitest';
import { memorySlots } from './slots.ts';

describe('camera stream slots (in process)', () => {
  it('hands out at most max slots, one per camera, and takes them back', () => {
    const slots = memorySlots(2);
    expect(slots.take('cam-a')).toBe(true);
    expect(slots.take('cam-a')).toBe(true); // its own slot again: still one
    expect(slots.inUse()).toBe(1);
    expect(slots.take('cam-b')).toBe(true);
    // At the edge: the third camera waits for a slot.
    expect(slots.take('cam-c')).toBe(false);
    expect(slots.inUse()).toBe(2);
    slots.release('cam-a');
    slots.release('cam-a'); // twice is harmless
    expect(slots.inUse()).toBe(1);
    expect(slots.take('cam-c')).toBe(true);
    expect(slots.take('cam-a')).toBe(false);
  });

  it('no slots: every camera is refused', () => {
    const slots = memorySlots(0);
    expect(slots.take('cam-a')).toBe(false);
    expect(slots.inUse()).toBe(0);
  });
});
