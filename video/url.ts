/**
 * Stream and snapshot URLs: what the hub will hand to ffmpeg or fetch, and how they are shown.
 * Pure. A camera's stream URL is its `rtspUrl` server attribute, set by an admin — never what a
 * device reports (contract, Cameras): a device-chosen URL could make ffmpeg read local files or
 * reach into the intranet.
 */

export const STREAM_SCHEMES = ['rtsp:', 'rtsps:'] as const;
const MAX_URL = 2048;

/** `rtsp://user:secret@host/path` → `rtsp://***@host/path`, anywhere in a text (logs, stderr). */
export function redact(text: string): string {
  // scheme://userinfo@ — userinfo has no '/', '@' or whitespace (RFC 3986 §3.2.1).
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1***@');
}

export type UrlCheck = { ok: true; url: URL } | { ok: false; problem: string };

/**
 * A URL ffmpeg may open: one of `schemes`, a host, no whitespace or control characters (the URL is
 * one argument to ffmpeg and must stay one URL), bounded length.
 */
export function checkUrl(value: unknown, schemes: readonly string[] = STREAM_SCHEMES): UrlCheck {
  if (typeof value !== 'string') return { ok: false, problem: 'must be a string' };
  if (value.length > MAX_URL) return { ok: false, problem: `longer than ${MAX_URL} characters` };
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\s\u0000-\u001f\u007f]/.test(value))
    return { ok: false, problem: 'contains whitespace or control characters' };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { ok: false, problem: `not a URL (${redact(value).slice(0, 80)})` };
  }
  const allowed = schemes.map((s) => s.replace(/:$/, '')).join(':// or ');
  if (!schemes.includes(url.protocol)) return { ok: false, problem: `must start with ${allowed}://` };
  if (!url.hostname) return { ok: false, problem: 'has no host' };
  return { ok: true, url };
}

/** Host (lower case, IPv6 without brackets) of a URL, for the snapshot allow-list. */
export function hostOf(url: URL): string {
  return url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
}

/**
 * May the hub fetch this snapshot URL carried by a detection event? Only http(s) or rtsp(s), and
 * only from the camera's own host (its admin-set rtspUrl) or a configured allow-list — anything
 * else would let a device point the hub at the intranet (SSRF).
 */
export function snapshotAllowed(
  snapshot: string,
  cameraUrl: string | undefined,
  allowHosts: readonly string[],
): { ok: true; url: URL } | { ok: false; problem: string } {
  const c = checkUrl(snapshot, ['http:', 'https:', 'rtsp:', 'rtsps:']);
  if (!c.ok) return c;
  const host = hostOf(c.url);
  const cam = cameraUrl ? checkUrl(cameraUrl) : undefined;
  if (cam?.ok && hostOf(cam.url) === host) return c;
  if (allowHosts.map((h) => h.toLowerCase()).includes(host)) return c;
  return {
    ok: false,
    problem: `host ${host} is neither the camera's stream host nor in GRIDHUB_VIDEO_SNAPSHOT_HOSTS`,
  };
}
