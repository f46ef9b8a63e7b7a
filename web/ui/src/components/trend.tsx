/** A trend with its controls (key, range, bucket, aggregate) over a device or a grid series. */
import { useMemo, useState } from 'preact/hooks';
import type { SeriesView } from '../../../../domain/index.ts';
import { api, qs } from '../api.ts';
import { useApp, useData } from '../app.tsx';
import { AXIS_TIME, Chart } from './chart.tsx';
import { ErrorBox } from './ui.tsx';

const RANGES: [string, number][] = [
  ['1h', 3_600_000],
  ['6h', 6 * 3_600_000],
  ['24h', 24 * 3_600_000],
  ['7d', 7 * 86_400_000],
];
const BUCKETS = ['', '1m', '5m', '15m', '1h', '1d'];
const AGGS = ['avg', 'min', 'max', 'sum', 'count', 'last'];

export function TrendPanel(props: {
  base: string;
  keys: string[];
  extra?: Record<string, string>;
  idPrefix: string;
}) {
  const { m } = useApp();
  const [key, setKey] = useState(props.keys[0] ?? '');
  const [range, setRange] = useState('6h');
  const [bucket, setBucket] = useState('5m');
  const [agg, setAgg] = useState('avg');
  const span = RANGES.find((r) => r[0] === range)![1];
  const { data, error } = useData(() => {
    const to = Date.now();
    const from = to - span;
    return key
      ? api
          .get<SeriesView>(
            `${props.base}${qs({ ...props.extra, key, from: new Date(from).toISOString(), to: new Date(to).toISOString(), bucket: bucket || undefined, agg: bucket ? agg : undefined })}`,
          )
          .then((r) => ({ ...r, from, to }))
      : Promise.resolve({ points: [], from, to });
  }, [key, range, bucket, agg, props.base, JSON.stringify(props.extra)]);
  const option = useMemo(
    () => ({
      grid: { left: 50, right: 20, top: 20, bottom: 50 },
      tooltip: { trigger: 'axis' },
      dataZoom: [{ type: 'inside' }, { type: 'slider', height: 18, bottom: 8 }],
      xAxis: { ...AXIS_TIME, min: data?.from, max: data?.to },
      yAxis: { type: 'value', scale: true },
      series: [
        {
          type: 'line',
          name: key,
          // A sparse series shows its points (a single reading is otherwise invisible).
          showSymbol: (data?.points.length ?? 0) < 60,
          data: (data?.points ?? []).map((p) => [p.ts, p.value]),
        },
      ],
    }),
    [data, key],
  );
  const sel = (
    id: string,
    label: string,
    value: string,
    set: (v: string) => void,
    opts: [string, string][],
  ) => (
    <label class="filter" for={`${props.idPrefix}-${id}`}>
      <span>{label}</span>
      <select
        id={`${props.idPrefix}-${id}`}
        value={value}
        onChange={(e) => set((e.target as HTMLSelectElement).value)}
      >
        {opts.map(([v, l]) => (
          <option key={v} value={v}>
            {l}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <div>
      <div class="filters">
        {sel(
          'key',
          m.key,
          key,
          setKey,
          props.keys.map((k) => [k, k]),
        )}
        {sel(
          'range',
          m.range,
          range,
          setRange,
          RANGES.map(([r]) => [r, r]),
        )}
        {sel(
          'bucket',
          m.bucket,
          bucket,
          setBucket,
          BUCKETS.map((b) => [b, b || m.raw]),
        )}
        {bucket &&
          sel(
            'agg',
            m.agg,
            agg,
            setAgg,
            AGGS.map((a) => [a, a]),
          )}
      </div>
      <ErrorBox error={error} />
      <Chart option={option} label={`${key} ${range}`} height={300} />
    </div>
  );
}
