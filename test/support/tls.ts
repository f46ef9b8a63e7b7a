// Self-signed certificates for the TLS tests (openssl from the system; the tests skip without it on a
// laptop and fail with CI=true).
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const OPENSSL_HINT = 'apt-get install -y openssl';
export const hasOpenssl = spawnSync('openssl', ['version']).error === undefined;
if (!hasOpenssl && process.env.CI === 'true') throw new Error(`CI requires openssl (${OPENSSL_HINT})`);

/** A certificate for 127.0.0.1 with common name `cn`, written to `<dir>/<file>.pem` and `.key`. */
export function selfSigned(dir: string, cn: string, file = cn) {
  const key = join(dir, `${file}.key`);
  const cert = join(dir, `${file}.pem`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  const fp = execFileSync('openssl', ['x509', '-in', cert, '-noout', '-fingerprint', '-sha256'], {
    encoding: 'utf8',
  });
  return {
    key: readFileSync(key),
    cert: readFileSync(cert),
    certFile: cert,
    keyFile: key,
    fingerprint: fp.split('=')[1]!.trim(),
  };
}
