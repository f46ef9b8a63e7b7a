/**
 * Evidence photos (`POST /api/media`): their ids, the image types accepted and the default size
 * limit. The type is judged by the file's first bytes, not its name or declared type.
 */
import { z } from 'zod';

export const MEDIA_ID_RE = /^m[0-9a-f]{24}$/;
export const mediaIdSchema = /* @__PURE__ */ z.string().regex(MEDIA_ID_RE, 'a photo id from POST /api/media');

export const MEDIA_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;
export type MediaType = (typeof MEDIA_TYPES)[number];
export const MEDIA_MAX_BYTES_DEFAULT = 5 * 1024 * 1024;

/** The image type of a file from its magic bytes (JPEG FF D8 FF, PNG \x89PNG\r\n\x1a\n, WebP RIFF….WEBP), or null. */
export function sniffImageType(b: Uint8Array): MediaType | null {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (b.length >= 8 && png.every((v, i) => b[i] === v)) return 'image/png';
  const ascii = (from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
  if (b.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'image/webp';
  return null;
}
