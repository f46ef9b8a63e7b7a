/** Shapes the API answers (see the OpenAPI document at /docs) and the fetches pages share. */
import type {
  CaseDetail,
  CaseSummary,
  CaseView as CaseViewAnswer,
  DeviceView,
  GridFeatures,
  GridNode,
  Page,
} from '../../../domain/index.ts';
import { api, qs } from './api.ts';
import { subscribe } from './live.ts';

/** A case as the API answers it: the list's view, with the detail's timeline and actions when opened. */
export type CaseView = CaseViewAnswer &
  Partial<Pick<CaseDetail, 'timeline' | 'allowedActions' | 'suggestedUnits'>>;
export type {
  CameraView,
  DeviceDetail,
  DeviceView,
  GridFeatures,
  GridNode,
  Page,
} from '../../../domain/index.ts';
export type Summary = CaseSummary;

let features: Promise<GridFeatures> | undefined;
export const gridFeatures = () => (features ??= api.get<GridFeatures>('/api/grids/features'));
let tree: Promise<{ items: GridNode[] }> | undefined;
export const gridTree = () => (tree ??= api.get<{ items: GridNode[] }>('/api/grids'));

/** All devices (pages of 1000, bounded at 20 pages). */
export async function allDevices(filter: Record<string, string | undefined> = {}): Promise<DeviceView[]> {
  const out: DeviceView[] = [];
  let cursor: string | null | undefined;
  for (let i = 0; i < 20; i++) {
    const p = await api.get<Page<DeviceView>>(
      `/api/devices${qs({ ...filter, limit: 1000, cursor: cursor ?? undefined })}`,
    );
    out.push(...p.items);
    cursor = p.next;
    if (!cursor) break;
  }
  return out;
}

/** Calls `fn` (at most every `ms`) after live events that `match`. */
export function onLive(match: (e: import('./live.ts').LiveEvent) => boolean, fn: () => void, ms = 700) {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const off = subscribe((e) => {
    if (!match(e) || timer) return;
    timer = setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  });
  return () => {
    off();
    if (timer) clearTimeout(timer);
  };
}

/** Flattens the grid tree into code → {name, level}. */
export function areaIndex(nodes: GridNode[]): Map<string, GridNode> {
  const out = new Map<string, GridNode>();
  const walk = (n: GridNode) => {
    out.set(n.code, n);
    n.children.forEach(walk);
  };
  nodes.forEach(walk);
  return out;
}

export function monthStart(now = Date.now()): number {
  const d = new Date(now + 8 * 3_600_000);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) - 8 * 3_600_000;
}
