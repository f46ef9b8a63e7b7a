/**
 * Camera stream slots: how many live streams (ffmpeg processes) may run at once
 * (`GRIDHUB_VIDEO_MAX_STREAMS`). Held in process today, behind this interface (issue 10, item 7)
 * so several hubs can later share one limit.
 */
export interface StreamSlots {
  /**
   * Takes the slot of a camera about to start its stream (true when it has one already); false
   * when every slot is taken. Synchronous: a shared implementation leases a share of the slots
   * from Redis ahead of need (or splits the limit per hub), never a round trip per viewer.
   */
  take(cameraId: string): boolean;
  /** Gives the slot back once the camera's stream has stopped (idle, failed, hub stopping). */
  release(cameraId: string): void;
  /** Slots in use (in a shared implementation: by this hub). */
  inUse(): number;
  readonly max: number;
}

export function memorySlots(max: number): StreamSlots {
  const held = new Set<string>();
  return {
    max,
    take(cameraId) {
      if (held.has(cameraId)) return true;
      if (held.size >= max) return false;
      held.add(cameraId);
      return true;
    },
    release: (cameraId) => void held.delete(cameraId),
    inUse: () => held.size,
  };
}
