/**
 * Grid codes (domain.md): 15 digits = 6 administrative division (GB/T 2260) + 3 street +
 * 3 community + 3 grid sequence. Upper levels are the prefixes.
 */
import { z } from 'zod';

export type GridLevel = 'district' | 'street' | 'community' | 'grid';

export const LEVEL_LENGTH: Record<GridLevel, number> = { district: 6, street: 9, community: 12, grid: 15 };

export const GRID_CODE_RE = /^[0-9]{15}$/;
export const AREA_CODE_RE = /^[0-9]{6}(?:[0-9]{3}){0,3}$/;

/** A unit grid's code (15 digits). */
export const gridCodeSchema = /* @__PURE__ */ z.string().regex(GRID_CODE_RE, 'a 15-digit grid code');
/** The code of an area at any level: district (6), street (9), community (12) or grid (15). */
export const areaCodeSchema = /* @__PURE__ */ z
  .string()
  .regex(AREA_CODE_RE, 'a district (6), street (9), community (12) or grid (15) code');

export function isGridCode(code: unknown): code is string {
  return typeof code === 'string' && GRID_CODE_RE.test(code);
}

/** The level a code of any length names, or undefined. */
export function levelOf(code: string): GridLevel | undefined {
  if (!AREA_CODE_RE.test(code)) return undefined;
  return (Object.keys(LEVEL_LENGTH) as GridLevel[]).find((l) => LEVEL_LENGTH[l] === code.length);
}

/** The code of the area at `level` that contains `code` (a unit grid or an upper area). */
export function ancestorCode(code: string, level: GridLevel): string {
  return code.slice(0, LEVEL_LENGTH[level]);
}

/** Grid → community → street → district, for escalation and rollups. */
export function hierarchy(gridCode: string): {
  district: string;
  street: string;
  community: string;
  grid: string;
} {
  return {
    district: ancestorCode(gridCode, 'district'),
    street: ancestorCode(gridCode, 'street'),
    community: ancestorCode(gridCode, 'community'),
    grid: gridCode,
  };
}
