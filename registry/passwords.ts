import { randomBytes, type ScryptOptions, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { GridhubError } from '../kernel/index.ts';

/**
 * Passwords: scrypt at the cost OWASP's password storage cheat sheet recommends (N=2^17, r=8, p=1;
 * 128 MiB and ~0.4 s per hash on a small server), with a per-user salt. People's passwords are
 * low-entropy, unlike device tokens (SHA-256, contract.md).
 *
 * A slow KDF on libuv's shared thread pool is itself a denial-of-service lever (DNS, file and
 * crypto work share its four threads), so hashing is bounded: at most `concurrency` at a time and a
 * short queue; past it, sign-in answers 503 with Retry-After instead of starving everything else.
 */
export const KDF = { N: 2 ** 17, r: 8, p: 1, keyLen: 32 } as const;

function scrypt(pw: string, salt: Buffer, opts: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...opts, maxmem: 256 * opts.N * opts.r + 1024 * 1024 };
  return new Promise((resolve, reject) =>
    scryptCb(pw, salt, KDF.keyLen, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export function createHasher(opts: { concurrency?: number; queue?: number; N?: number } = {}) {
  const concurrency = opts.concurrency ?? 2;
  const maxQueue = opts.queue ?? 16;
  const N = opts.N ?? KDF.N;
  let running = 0;
  const waiting: (() => void)[] = [];

  async function slot<T>(fn: () => Promise<T>): Promise<T> {
    if (running >= concurrency) {
      if (waiting.length >= maxQueue)
        throw new GridhubError('GRIDHUB_ERR_BUSY', 'too many sign-ins at once; try again in a moment', 503, {
          retryAfterSeconds: 1,
        });
      await new Promise<void>((resolve) => waiting.push(resolve));
    } else running++;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  }

  const encode = (n: number, salt: Buffer, hash: Buffer) =>
    `scrypt$${n}$${KDF.r}$${KDF.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
  // Stored hashes of unknown users get the same work (issue 7, finding 3: 2 ms vs 50 ms told
  // which user names exist).
  const dummy = encode(N, randomBytes(16), randomBytes(KDF.keyLen));

  return {
    hash: (password: string) =>
      slot(async () => {
        const salt = randomBytes(16);
        return encode(N, salt, await scrypt(password, salt, { N, r: KDF.r, p: KDF.p }));
      }),
    /** Verifies against the stored hash, or does the same work against a dummy when there is none. */
    verify: (password: string, stored: string | undefined) =>
      slot(async () => {
        const parts = (stored ?? dummy).split('$');
        // Older stores: `scrypt$salt$hash` at Node's default cost (N=2^14).
        const [n, r, p, salt, hash] =
          parts.length === 3
            ? [2 ** 14, 8, 1, parts[1], parts[2]]
            : [Number(parts[1]), Number(parts[2]), Number(parts[3]), parts[4], parts[5]];
        if (parts[0] !== 'scrypt' || !salt || !hash || !(n >= 2 ** 14 && n <= 2 ** 20)) return false;
        const got = await scrypt(password, Buffer.from(salt, 'base64'), {
          N: n,
          r: r as number,
          p: p as number,
        });
        const want = Buffer.from(hash, 'base64');
        return stored !== undefined && got.length === want.length && timingSafeEqual(got, want);
      }),
    /** True when a stored hash is below the current cost (rehash at the next sign-in). */
    outdated: (stored: string) => !stored.startsWith(`scrypt$${N}$`),
    stats: () => ({ running, waiting: waiting.length }),
  };
}
export type Hasher = ReturnType<typeof createHasher>;

// The most common passwords of public breach lists (top entries of at least 10 characters, plus
// the hub's own name); a policy that rejects the obvious (issue 7), not a full dictionary.
const COMMON = new Set([
  '1234567890',
  '12345678910',
  '123456789a',
  '1q2w3e4r5t',
  '1qaz2wsx3edc',
  'qwertyuiop',
  'qwerty1234',
  'qwerty12345',
  'password12',
  'password123',
  'password1234',
  'passw0rd123',
  'iloveyou12',
  'abcdefghij',
  'abc1234567',
  'a123456789',
  '0987654321',
  '1111111111',
  '0000000000',
  'aaaaaaaaaa',
  'zxcvbnm123',
  'asdfghjkl1',
  'letmein123',
  'welcome123',
  'admin12345',
  'administrator',
  'changeme123',
  'gridhub123',
  'gridhub1234',
  'woaini1314',
  '5201314520',
]);

/** The password policy: at least 10 characters, not a common password, not the user's name. */
export function passwordProblem(password: string, user: { id: string; name?: string }): string | undefined {
  if (password.length < 10) return 'at least 10 characters';
  if (password.length > 256) return 'at most 256 characters';
  const lower = password.toLowerCase();
  if (COMMON.has(lower)) return 'a commonly used password; choose another';
  if (lower === user.id.toLowerCase() || (user.name && lower === user.name.toLowerCase()))
    return 'must not be the user name';
  if (new Set(password).size < 3) return 'too few different characters';
  return undefined;
}
