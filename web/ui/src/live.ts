/**
 * The live stream (`GET /api/events`, server-sent events) read through fetch, so the same request
 * carries the session cookie or the bearer token. One connection for the whole app; it reconnects
 * with a bounded back-off and stops when the session has ended (401).
 */
import { authHeaders } from './api.ts';

export type LiveEvent =
  | { type: 'case'; action: string; caseId: string; status: string; gridCode: string | null; at: string }
  | { type: 'device'; deviceId: string; status: 'online' | 'offline'; at: string }
  | { type: 'rule'; ruleId: string; change: string; at: string };

type Listener = (e: LiveEvent) => void;
const listeners = new Set<Listener>();
const stateListeners = new Set<(s: LiveState) => void>();
export type LiveState = 'connecting' | 'live' | 'offline';
let state: LiveState = 'offline';
let controller: AbortController | null = null;
let running = false;

function setState(s: LiveState) {
  state = s;
  for (const fn of stateListeners) fn(s);
}
export const liveState = () => state;
export function onLiveState(fn: (s: LiveState) => void) {
  stateListeners.add(fn);
  return () => stateListeners.delete(fn);
}

export function subscribe(fn: Listener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function dispatch(block: string) {
  let data = '';
  for (const line of block.split('\n')) if (line.startsWith('data:')) data += line.slice(5).trim();
  if (!data) return;
  try {
    const e = JSON.parse(data) as LiveEvent;
    for (const fn of listeners) fn(e);
  } catch {}
}

export function startLive() {
  if (running) return;
  running = true;
  void (async () => {
    let backoff = 1000;
    while (running) {
      controller = new AbortController();
      setState('connecting');
      try {
        const res = await fetch('/api/events', {
          credentials: 'same-origin',
          headers: authHeaders(),
          signal: controller.signal,
        });
        if (res.status === 401) {
          running = false;
          break;
        }
        if (!res.ok || !res.body) throw new Error(`live stream: ${res.status}`);
        setState('live');
        backoff = 1000;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i = buf.indexOf('\n\n');
          while (i >= 0) {
            dispatch(buf.slice(0, i));
            buf = buf.slice(i + 2);
            i = buf.indexOf('\n\n');
          }
        }
      } catch {}
      if (!running) break;
      setState('offline');
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 30_000);
    }
    setState('offline');
  })();
}

export function stopLive() {
  running = false;
  controller?.abort();
}
