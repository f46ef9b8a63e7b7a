/**
 * The default event catalogue (CJ/T 214 style), the seeds of `/api/categories` at first start: the
 * city edits its own from there. Apart from the words (categories.ts) because only the hub seeds
 * with them, so the dashboard's bundle leaves them out.
 */
import type { Category, TimeLimit, Urgency } from './categories.ts';

const wh = (value: number): TimeLimit => ({ value, unit: 'wh' });
const wd = (value: number): TimeLimit => ({ value, unit: 'wd' });
const h = (value: number): TimeLimit => ({ value, unit: 'h' });

const cat = (
  code: string,
  nameZh: string,
  nameEn: string,
  normal: TimeLimit,
  urgent: TimeLimit,
  opts: { defaultUrgency?: Urgency; autoRegister?: boolean; low?: TimeLimit } = {},
): Category => ({
  code,
  nameZh,
  nameEn,
  defaultUrgency: opts.defaultUrgency ?? 'normal',
  limits: { low: opts.low ?? normal, normal, urgent },
  autoRegister: opts.autoRegister ?? true,
});

export const DEFAULT_CATEGORIES: Category[] = [
  // 01 市容环境 city appearance
  cat('0101', '暴露垃圾', 'Exposed garbage', wh(4), h(2)),
  cat('0102', '垃圾满溢', 'Overflowing bin', wh(4), h(2)),
  cat('0103', '积存渣土', 'Accumulated muck', wd(2), h(8)),
  cat('0104', '道路不洁', 'Dirty road', wh(4), h(2)),
  // 02 宣传广告 advertising
  cat('0201', '违规广告', 'Illegal advertising', wd(2), h(8), { autoRegister: false }),
  // 03 施工管理 construction
  cat('0301', '施工扰民', 'Construction nuisance (noise)', wh(2), h(1)),
  cat('0302', '施工占道', 'Construction occupying the road', wd(1), h(4)),
  cat('0303', '工地扬尘', 'Construction site dust', wh(4), h(1)),
  cat('0304', '施工废弃料', 'Construction waste', wd(2), h(8)),
  cat('0305', '渣土车未覆盖', 'Uncovered muck truck', wh(4), h(1)),
  // 04 街面秩序 street order
  cat('0401', '占道经营', 'Street vending', wh(2), h(1)),
  cat('0402', '无照经营', 'Unlicensed business', wd(5), wd(1), { autoRegister: false }),
  // 05 突发事件 emergencies
  cat('0501', '火灾', 'Fire', h(1), h(0.5), { defaultUrgency: 'urgent' }),
  cat('0502', '路面塌陷', 'Road collapse', h(4), h(1), { defaultUrgency: 'urgent' }),
  cat('0503', '道路积水', 'Waterlogged road', wh(4), h(2)),
  // 09 其他/扩展 other and extensions
  cat('0901', '设备故障', 'Device failure', wd(1), wh(4)),
  cat('0902', '塔吊安全', 'Tower crane safety', wh(2), h(0.5)),
  cat('0903', '未戴安全帽', 'Missing safety helmet', wh(2), h(1)),
  cat('0904', '垃圾桶倾倒', 'Bin knocked over', wh(4), h(2)),
  cat('0905', '非法闯入', 'Intrusion', wh(1), h(0.5)),
];
