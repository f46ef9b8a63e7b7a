/**
 * The district map (一张图): unit-grid polygons from the stored GeoJSON, coloured by open cases
 * (urgent cases and overdue ones weigh more), devices as markers by state. No tile server: the
 * polygons are the map; with a configured basemap (GRIDHUB_MAP_TILES) its raster tiles are drawn
 * beneath them (components/basemap.ts).
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { useApp } from '../app.tsx';
import type { DeviceView, GridFeatures, Summary } from '../data.ts';
import { mercator, tileSeries, tilesFor } from './basemap.ts';
import { Chart, echarts } from './chart.tsx';

const registered = new Set<string>();
function mapFor(area: string, fc: GridFeatures): string {
  const name = `gridhub-${area}`;
  if (!registered.has(name)) {
    echarts.registerMap(name, {
      type: 'FeatureCollection',
      features: fc.features.filter((f) => f.properties.code.startsWith(area)),
    } as never);
    registered.add(name);
  }
  return name;
}

export interface MapProps {
  features: GridFeatures;
  area: string;
  summary?: Summary;
  devices?: DeviceView[];
  /** Highlighted point (a case's location). */
  marker?: { lng: number; lat: number } | null;
  onGrid?: (code: string) => void;
  onDevice?: (id: string) => void;
  height?: number | string;
  dark?: boolean;
  /** Grid names on the polygons (default: at community level and below). */
  labels?: boolean;
  label: string;
  testid?: string;
}

export function GridMap(props: MapProps) {
  const { m, map: basemap } = useApp();
  const tiles = basemap.tiles;
  const [, setV] = useState(0);
  useEffect(() => setV((v) => v + 1), [props.features]);
  const option = useMemo(() => {
    const map = mapFor(props.area, props.features);
    const alarm = new Set(props.summary?.alarmDevices ?? []);
    // Grid names without the community's name in front (东坡路社区第1网格 → 第1网格) fit a polygon.
    const names = new Map(
      props.features.features.map((f) => [f.properties.code, f.properties.name.replace(/^.*社区/, '')]),
    );
    const data = props.features.features
      .filter((f) => f.properties.code.startsWith(props.area))
      .map((f) => {
        const s = props.summary?.byGrid[f.properties.code];
        return {
          name: f.properties.code,
          value: s ? s.open + s.urgent * 2 + s.overdue * 2 : 0,
          label: f.properties.name,
          open: s?.open ?? 0,
        };
      });
    const inArea = (d: DeviceView) => d.location && (d.gridCode ?? '').startsWith(props.area);
    const devs = (props.devices ?? []).filter(inArea);
    const pt = (d: DeviceView) => ({
      name: d.id,
      value: [d.location!.lng, d.location!.lat],
      status: d.status,
    });
    const fg = props.dark ? '#dbe7ff' : '#1d2939';
    return {
      backgroundColor: props.dark ? '#0b1730' : '#eef3f8',
      tooltip: {
        trigger: 'item',
        formatter: (p: { seriesType: string; name: string; data?: { label?: string; open?: number } }) =>
          p.seriesType === 'map'
            ? `${p.data?.label ?? p.name}<br/>${p.name}<br/>${m.open}: ${p.data?.open ?? 0}`
            : p.name,
      },
      geo: {
        map,
        roam: true,
        // The tiles are Web Mercator: the polygons are projected the same way to sit on them.
        ...(tiles ? { projection: mercator } : {}),
        nameProperty: 'code',
        layoutCenter: ['50%', '50%'],
        layoutSize: '95%',
        itemStyle: {
          areaColor: tiles ? 'rgba(223,233,245,0.25)' : props.dark ? '#15305c' : '#dfe9f5',
          borderColor: props.dark ? '#5b8bd9' : '#7f9cc0',
          borderWidth: 1,
        },
        emphasis: { itemStyle: { areaColor: '#ffd666' }, label: { show: true, color: '#1d2939' } },
        label: {
          show: props.labels ?? props.area.length >= 12,
          color: fg,
          fontSize: 11,
          formatter: (p: { name: string }) => names.get(p.name) ?? p.name,
        },
      },
      // A case's location map (with its pin) is small: no colour scale, no legend.
      visualMap: {
        show: !props.marker,
        min: 0,
        max: Math.max(4, ...data.map((d) => d.value)),
        seriesIndex: 0,
        left: 10,
        bottom: 10,
        text: [m.legendOpen, '0'],
        textStyle: { color: fg },
        calculable: false,
        inRange: {
          color: props.dark ? ['#1b3a6b', '#f5a623', '#e5484d'] : ['#e3edf8', '#ffc53d', '#d9363e'],
          // Over a basemap the colours let the streets show through.
          ...(tiles ? { colorAlpha: [0.2, 0.65] } : {}),
        },
      },
      series: [
        { type: 'map', geoIndex: 0, data },
        {
          type: 'scatter',
          coordinateSystem: 'geo',
          name: m.online,
          symbolSize: 7,
          itemStyle: { color: '#12b76a', borderColor: '#fff', borderWidth: 1 },
          data: devs.filter((d) => d.status === 'online' && !alarm.has(d.id)).map(pt),
        },
        {
          type: 'scatter',
          coordinateSystem: 'geo',
          name: m.offlineDev,
          symbolSize: 7,
          itemStyle: { color: '#98a2b3', borderColor: '#fff', borderWidth: 1 },
          data: devs.filter((d) => d.status !== 'online' && !alarm.has(d.id)).map(pt),
        },
        {
          type: 'scatter',
          coordinateSystem: 'geo',
          name: m.alarm,
          symbol: 'triangle',
          symbolSize: 12,
          itemStyle: { color: '#e5484d', borderColor: '#fff', borderWidth: 1 },
          data: devs.filter((d) => alarm.has(d.id)).map(pt),
        },
        ...(props.marker
          ? [
              {
                type: 'scatter',
                coordinateSystem: 'geo',
                symbol: 'pin',
                symbolSize: 34,
                itemStyle: { color: '#d92d20' },
                data: [{ name: '', value: [props.marker.lng, props.marker.lat] }],
              },
            ]
          : []),
        // Last so the visual map's seriesIndex stays 0; drawn beneath everything (z -10).
        ...(tiles ? [tileSeries(tiles, tilesFor(props.features, props.area, 1000))] : []),
      ],
      legend: {
        show: !props.marker,
        bottom: 10,
        right: 10,
        textStyle: { color: fg },
        data: [m.online, m.offlineDev, m.alarm],
      },
    };
  }, [props.area, props.features, props.summary, props.devices, props.marker, props.dark, m, tiles]);
  const chart = (
    <Chart
      option={option}
      label={props.label}
      height={props.height ?? 460}
      testid={props.testid}
      onClick={(p) => {
        if (p.seriesType === 'map' || p.componentType === 'geo') props.onGrid?.(String(p.name));
        else if (p.seriesType === 'scatter' && p.name) props.onDevice?.(String(p.name));
      }}
    />
  );
  if (!tiles || !basemap.attribution) return chart;
  return (
    <div>
      {chart}
      <p class="map-attribution">
        {m.basemapAttribution}: {basemap.attribution}
      </p>
    </div>
  );
}
