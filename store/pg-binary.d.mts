import type { Prepared } from './db.ts';
export function float8ArrayParam(values: readonly (number | null | undefined)[]): Buffer;
export function textArrayParam(values: readonly (string | null | undefined)[]): Buffer;
export function binaryParams(statement: Prepared, params: readonly (readonly unknown[])[]): Buffer[];
