/**
 * IANA time-zone names (`Asia/Shanghai`): the hub's configured zone and a working calendar's zone
 * are checked by the one validator, the runtime's own tz database (Intl), so a name Node and the
 * browser can format with is exactly a name accepted.
 */
import { z } from 'zod';

export function isIanaZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export const timeZoneSchema = /* @__PURE__ */ z
  .string()
  .refine(isIanaZone, 'must be an IANA time zone such as Asia/Shanghai');
