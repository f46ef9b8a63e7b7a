import { type Logger, pino } from 'pino';

export type { Logger };

// Secrets never reach the log (issue 7, finding 6): credentials in headers and bodies, tokens,
// passwords, whatever the object they sit in.
export const REDACT_PATHS = [
  'authorization',
  'cookie',
  'password',
  'token',
  'accessToken',
  'currentPassword',
  'newPassword',
  'databaseUrl',
  'adminToken',
  'metricsToken',
  '*.authorization',
  '*.cookie',
  '*.password',
  '*.token',
  '*.accessToken',
  '*.currentPassword',
  '*.newPassword',
  '*.databaseUrl',
  '*.adminToken',
  '*.metricsToken',
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
];

/** `scheme://user:password@host` → `scheme://user:***@host`, in any text. */
export function redactUrlPasswords(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^\s@/]*@/gi, '$1:***@');
}

/** The one root logger; every part takes `logger.child({ module })`. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { app: 'gridhub' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      // Error messages and URLs may carry a connection string with its password.
      hooks: {
        logMethod(args, method) {
          method.apply(
            this,
            args.map((a) =>
              typeof a === 'string'
                ? redactUrlPasswords(a)
                : a instanceof Error
                  ? Object.assign(a, { message: redactUrlPasswords(a.message) })
                  : a,
            ) as typeof args,
          );
        },
      },
      serializers: {
        err: (e: Error | string) => {
          // Some callers log the message alone (`err: err.message`): a string, not an Error.
          if (typeof e === 'string') return redactUrlPasswords(e);
          if (!(e instanceof Error)) return e;
          const s = pino.stdSerializers.err(e);
          return {
            ...s,
            message: redactUrlPasswords(s.message ?? ''),
            stack: s.stack && redactUrlPasswords(s.stack),
          };
        },
      },
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

/** A silent logger for unit tests and benchmarks. */
export const silentLogger = (): Logger => pino({ level: 'silent' });
