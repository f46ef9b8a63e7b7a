/**
 * The parts' one lifecycle, as the hub runs it: parts start one after another in flow order and
 * stop in reverse, in two passes — first `drain()` (stop taking work, finish what was taken: the
 * gateway stops reading messages while ingest writes what it took and the last PUBACKs leave on
 * open sockets, issue 8), then `stop()`. A part that fails to start is named in the error
 * (`GRIDHUB_ERR_START: gateway: …`) and the parts already started are stopped; a part that fails
 * to stop is named in the log and the others still stop.
 */
import { ConfigError, GridhubError, type Logger } from '../kernel/index.ts';

/** What every part of the hub offers: `createX(deps) → { start(), stop() }`. */
export interface Part<S = unknown> {
  start(): S | Promise<S>;
  stop(): unknown;
  /** Optional first pass of the stop: stop taking work, finish the work already taken. */
  drain?(): unknown;
}

export class PartError extends GridhubError {
  constructor(
    code: 'GRIDHUB_ERR_START' | 'GRIDHUB_ERR_STOP',
    readonly part: string,
    cause: unknown,
  ) {
    super(code, `${code}: ${part}: ${cause instanceof Error ? cause.message : String(cause)}`, 500, { part });
    this.cause = cause;
  }
}

export function createLifecycle(logger: Logger) {
  let started: { name: string; part: Part }[] = [];

  const named = (name: string, err: unknown) =>
    err instanceof ConfigError || err instanceof PartError
      ? err
      : new PartError('GRIDHUB_ERR_START', name, err);

  /**
   * Starts one part and keeps it for stop(); returns what its start() returns. A failure is
   * thrown naming the part (a configuration error already names its setting and passes as is).
   */
  async function start<S>(name: string, part: Part<S>): Promise<S> {
    try {
      const result = await part.start();
      started.push({ name, part });
      logger.debug({ part: name }, 'part started');
      return result;
    } catch (err) {
      throw named(name, err);
    }
  }

  /** Builds a part (what must happen before it can start); a failure is thrown naming it. */
  async function build<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw named(name, err);
    }
  }

  /** Drains, then stops, every started part in reverse order; each failure is logged naming its part. */
  async function stop(): Promise<PartError[]> {
    const parts = started.reverse();
    started = [];
    const failures: PartError[] = [];
    const each = async (pass: 'drain' | 'stop') => {
      for (const { name, part } of parts) {
        try {
          if (pass === 'drain') await part.drain?.();
          else {
            await part.stop();
            logger.debug({ part: name }, 'part stopped');
          }
        } catch (err) {
          const e = new PartError('GRIDHUB_ERR_STOP', name, err);
          failures.push(e);
          logger.error({ err, part: name, code: e.code }, e.message);
        }
      }
    };
    await each('drain');
    await each('stop');
    return failures;
  }

  return { start, build, stop, started: () => started.map((s) => s.name) };
}
export type Lifecycle = ReturnType<typeof createLifecycle>;
