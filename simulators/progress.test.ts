import { describe, expect, it } from 'vitest';
import {
  formatClock,
  formatProgress,
  formatSpan,
  formatSummary,
  ProgressDisplay,
  type ProgressFields,
  renderProgress,
} from './progress.ts';

const fields: ProgressFields = {
  elapsedMs: 65_400,
  connected: 48,
  of: 49,
  readingsPerSec: 82.4,
  sent: 12_345,
  acked: 12_340,
  errors: 2,
  status: 'replay 43% (3h25m behind)',
};

describe('formatting', () => {
  it('writes the progress line with every figure', () => {
    expect(formatProgress(fields)).toBe(
      '00:01:05  connected 48/49  82 readings/s  sent 12,345  acked 12,340  errors 2  replay 43% (3h25m behind)',
    );
    expect(
      formatProgress({
        ...fields,
        connectedLabel: 'sockets',
        refused: 3,
        status: undefined,
        readingsPerSec: 4.25,
      }),
    ).toBe('00:01:05  sockets 48/49  4.3 readings/s  sent 12,345  acked 12,340  refused 3  errors 2');
  });

  it('formats clocks and spans', () => {
    expect(formatClock(0)).toBe('00:00:00');
    expect(formatClock(26 * 3_600_000 + 3 * 60_000 + 999)).toBe('26:03:00');
    expect(formatSpan(6 * 3_600_000)).toBe('6h');
    expect(formatSpan(2 * 3_600_000 + 10 * 60_000)).toBe('2h10m');
    expect(formatSpan(65_000)).toBe('1m05s');
    expect(formatSpan(45_000)).toBe('45s');
    expect(formatSpan(26 * 3_600_000)).toBe('1d2h');
  });

  it('redraws in place on a terminal: \\r, cut to the width, clear to the end of the line', () => {
    const line = formatProgress(fields);
    expect(renderProgress(line, true)).toBe(`\r${line}\x1b[K`);
    const narrow = renderProgress(line, true, 40);
    expect(narrow.startsWith('\r')).toBe(true);
    expect(narrow.endsWith('…\x1b[K')).toBe(true);
    expect(narrow.length).toBe(1 + 39 + 3);
    expect(narrow).not.toContain('\n');
  });

  it('writes plain lines elsewhere: no \\r, no escape codes', () => {
    const line = formatProgress(fields);
    const plain = renderProgress(line, false, 40);
    expect(plain).toBe(`${line}\n`);
    expect(plain).not.toContain('\r');
    expect(plain).not.toContain('\x1b');
  });

  it('lines up the summary', () => {
    expect(
      formatSummary('done', [
        ['devices', '49'],
        ['readings', '1,234'],
      ]),
    ).toBe('done\n  devices   49\n  readings  1,234\n');
  });
});

describe('ProgressDisplay', () => {
  function setup(tty: boolean) {
    const written: string[] = [];
    let t = 1_000_000;
    let readings = 0;
    const display = new ProgressDisplay({
      out: { write: (s: string) => written.push(s), isTTY: tty, columns: 200 },
      now: () => t,
      sample: () => ({ connected: 3, of: 3, readings, sent: readings / 2, acked: readings / 2, errors: 0 }),
    });
    return {
      display,
      written,
      advance(ms: number, more: number) {
        t += ms;
        readings += more;
      },
    };
  }

  it('works out the rate over the last seconds', () => {
    const { display, advance } = setup(false);
    advance(1000, 100);
    expect(display.fields().readingsPerSec).toBe(100);
    advance(1000, 300);
    expect(display.fields().readingsPerSec).toBe(200);
    for (let i = 0; i < 10; i++) {
      advance(1000, 50);
      display.fields();
    }
    expect(display.fields().readingsPerSec).toBeCloseTo(50, 0);
    expect(display.fields().elapsedMs).toBe(12_000);
  });

  it('follows the stream: a TTY sees redraws and a final newline, a pipe sees lines', () => {
    const tty = setup(true);
    expect(tty.display.tty).toBe(true);
    tty.advance(500, 10);
    tty.display.update();
    tty.advance(500, 10);
    tty.display.update();
    tty.display.stop();
    expect(tty.written.slice(0, 2).every((w) => w.startsWith('\r') && !w.includes('\n'))).toBe(true);
    expect(tty.written.at(-1)).toBe('\n');

    const pipe = setup(false);
    expect(pipe.display.tty).toBe(false);
    pipe.advance(5000, 10);
    pipe.display.update();
    pipe.display.stop();
    expect(pipe.written).toHaveLength(1);
    expect(pipe.written[0]).toMatch(/^00:00:05 {2}connected 3\/3 {2}2\.0 readings\/s .*\n$/);
  });
});
