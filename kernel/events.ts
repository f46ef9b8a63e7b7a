/**
 * The hub's in-process event bus: case changes and device status, for the live stream
 * (`GET /api/events`) and, later, for other hubs over Redis. A subscriber that throws is logged
 * and skipped; it never stops the publisher.
 */
export type HubEvent =
  | {
      type: 'case';
      action: string;
      caseId: string;
      status: string;
      gridCode: string | null;
      /** The unit the case is dispatched to, and the device that raised it (stream scoping). */
      assignee?: string | null;
      deviceId?: string | null;
      at: string;
      /** Who acts next (the workflow's notify effects): the dashboard highlights the case for them. */
      notify?: { audience: string; unitId?: string }[];
      /** An escalation: the level reached and the area code that now answers for the case. */
      level?: string;
      areaCode?: string;
    }
  | { type: 'device'; deviceId: string; status: 'online' | 'offline'; at: string }
  | { type: 'rule'; ruleId: string; change: 'saved' | 'deleted' | 'disabled'; reason?: string; at: string };

/**
 * The live event fan-out (issue 10, item 7). In process by default; a shared implementation
 * delivers to this hub's subscribers at once and also publishes to a Redis channel (fire and
 * forget, batched: publish() stays synchronous), and hands events from other hubs to the local
 * subscribers, so every hub's `/api/events` streams see every case and device change.
 */
export interface EventBus {
  publish(e: HubEvent): void;
  /** Returns the unsubscribe function. */
  subscribe(fn: (e: HubEvent) => void): () => void;
  /** Subscribers in this process. */
  size(): number;
}

export function createEventBus(onError: (err: unknown) => void = () => {}): EventBus {
  const subscribers = new Set<(e: HubEvent) => void>();
  return {
    publish(e: HubEvent) {
      for (const s of subscribers) {
        try {
          s(e);
        } catch (err) {
          onError(err);
        }
      }
    },
    subscribe(fn: (e: HubEvent) => void): () => void {
      subscribers.add(fn);
      return () => void subscribers.delete(fn);
    },
    size: () => subscribers.size,
  };
}
