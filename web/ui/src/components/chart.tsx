/**
 * Apache ECharts, tree-shaken to what the dashboard draws: lines (trends, KPIs), bars, the GeoJSON
 * map of the grids and scatter markers on it, custom series (online history, basemap tiles). Canvas renderer: no WebGL, works offline.
 */
import { BarChart, CustomChart, LineChart, MapChart, ScatterChart } from 'echarts/charts';
import {
  DataZoomComponent,
  GeoComponent,
  GridComponent,
  LegendComponent,
  MarkAreaComponent,
  MarkLineComponent,
  MarkPointComponent,
  TooltipComponent,
  VisualMapComponent,
} from 'echarts/components';
import * as echarts from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';
import { useEffect, useRef } from 'preact/hooks';

echarts.use([
  BarChart,
  // Custom series: the device's online history (periods as bars on a time axis) and the basemap's
  // raster tiles under the grid polygons.
  CustomChart,
  LineChart,
  MapChart,
  ScatterChart,
  DataZoomComponent,
  GeoComponent,
  GridComponent,
  LegendComponent,
  MarkAreaComponent,
  MarkLineComponent,
  MarkPointComponent,
  TooltipComponent,
  VisualMapComponent,
  CanvasRenderer,
]);

export { echarts };
export type EChartsOption = echarts.EChartsCoreOption;

/** A chart in a labelled figure (the canvas itself says nothing to a screen reader). */
export function Chart(props: {
  option: EChartsOption;
  label: string;
  height?: number | string;
  onClick?: (p: { name?: string; data?: unknown; seriesType?: string; componentType?: string }) => void;
  testid?: string;
}) {
  const el = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  const click = useRef(props.onClick);
  click.current = props.onClick;
  useEffect(() => {
    const c = echarts.init(el.current!, undefined, { renderer: 'canvas' });
    chart.current = c;
    c.on('click', (p) => click.current?.(p as never));
    const ro = new ResizeObserver(() => c.resize());
    ro.observe(el.current!);
    return () => {
      ro.disconnect();
      c.dispose();
    };
  }, []);
  useEffect(() => {
    chart.current?.setOption(props.option, { notMerge: true, lazyUpdate: true });
  }, [props.option]);
  return (
    <div
      ref={el}
      class="chart"
      role="img"
      aria-label={props.label}
      data-testid={props.testid}
      style={{ height: props.height ?? 280 }}
    />
  );
}

export const AXIS_TIME = { type: 'time' as const, axisLabel: { hideOverlap: true } };
