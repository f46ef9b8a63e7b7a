import { describe, expect, it } from 'vitest';
import { checkUrl, redact, snapshotAllowed } from './url.ts';

describe('stream URLs', () => {
  it('accepts rtsp and rtsps only', () => {
    expect(checkUrl('rtsp://127.0.0.1:8554/cam').ok).toBe(true);
    expect(checkUrl('rtsps://cam.example:322/live?ch=1').ok).toBe(true);
    for (const bad of [
      'file:///etc/passwd',
      'http://10.0.0.1/x',
      'concat:rtsp://a|file:///etc/passwd',
      '-i /etc/passwd',
      'rtsp://',
      'rtsp://a b/c',
      'rtsp://host/x\n-f',
      '',
      `rtsp://h/${'a'.repeat(2050)}`,
    ]) {
      expect(checkUrl(bad).ok, bad).toBe(false);
    }
    expect(checkUrl(42).ok).toBe(false);
    const r = checkUrl('http://u:p@h/x');
    expect(r.ok || r.problem).toBe('must start with rtsp:// or rtsps://');
  });

  it('redacts credentials anywhere in a text', () => {
    expect(redact('rtsp://admin:s3cret@10.1.2.3:554/h264')).toBe('rtsp://***@10.1.2.3:554/h264');
    expect(redact('error opening rtsps://u@h/x and http://a:b@c/')).toBe(
      'error opening rtsps://***@h/x and http://***@c/',
    );
    expect(redact('rtsp://10.1.2.3/x')).toBe('rtsp://10.1.2.3/x');
  });

  it('allows snapshots only from the camera host or the allow-list', () => {
    const cam = 'rtsp://u:p@10.0.0.5:554/s';
    expect(snapshotAllowed('http://10.0.0.5/snap.jpg', cam, []).ok).toBe(true);
    expect(snapshotAllowed('http://10.0.0.6/snap.jpg', cam, []).ok).toBe(false);
    expect(snapshotAllowed('http://169.254.169.254/latest', cam, []).ok).toBe(false);
    expect(snapshotAllowed('http://nvr.local/x.jpg', cam, ['NVR.local']).ok).toBe(true);
    expect(snapshotAllowed('file:///etc/passwd', cam, ['']).ok).toBe(false);
    expect(snapshotAllowed('http://10.0.0.5/snap.jpg', undefined, []).ok).toBe(false);
  });
});
