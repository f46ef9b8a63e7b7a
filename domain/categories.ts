/**
 * Event categories (CJ/T 214 style: 2-digit major + 2-digit minor code) and urgency. The catalogue is
 * data the city edits (`/api/categories`; seeds in default-categories.ts). Time limits (处置时限) count in working
 * hours (`wh`) or working days (`wd`) on the working calendar; urgent cases run on the wall clock
 * (`h`, hours).
 */
import { z } from 'zod';

export const URGENCIES = ['low', 'normal', 'urgent'] as const;
export type Urgency = (typeof URGENCIES)[number];
export const urgencySchema = /* @__PURE__ */ z.enum(URGENCIES);

/** A category code: 2-digit major + 2-digit minor (CJ/T 214). */
export const CATEGORY_CODE_RE = /^[0-9]{4}$/;
export const categoryCodeSchema = /* @__PURE__ */ z
  .string()
  .regex(CATEGORY_CODE_RE, 'a 4-digit category code');

export const TIME_LIMIT_UNITS = ['wh', 'wd', 'h'] as const;
export const timeLimitSchema = /* @__PURE__ */ z
  .object({ value: z.number().positive().max(10_000), unit: z.enum(TIME_LIMIT_UNITS) })
  .strict();
export type TimeLimit = z.infer<typeof timeLimitSchema>;

/** A category as the city edits it (`PUT /api/categories/:code`) and as the API shows it. */
export const categorySchema = /* @__PURE__ */ z
  .object({
    code: z.string().regex(CATEGORY_CODE_RE, 'a 4-digit code (2-digit major + 2-digit minor)'),
    nameZh: z.string().min(1).max(100),
    nameEn: z.string().min(1).max(100),
    defaultUrgency: z.enum(URGENCIES).default('normal'),
    limits: z.object({ low: timeLimitSchema, normal: timeLimitSchema, urgent: timeLimitSchema }).strict(),
    /** Sensor-raised cases of this category are registered automatically (else they start `reported`). */
    autoRegister: z.boolean().default(true),
  })
  .strict();
export type Category = z.output<typeof categorySchema>;
