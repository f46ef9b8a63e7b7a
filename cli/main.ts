import { parseArgs } from 'node:util';
import { type Config, createHub, ENV_KEYS, loadConfig, VERSION } from '../hub/index.ts';
import { ConfigError, createLogger, redactUrlPasswords } from '../kernel/index.ts';

const HELP = `gridhub ${VERSION} — IoT and sensor hub for urban grid management

Usage: gridhub <command> [options]

Commands:
  start                 start the hub (MQTT broker, ingest, rules, HTTP API)
  demo                  start the hub with a simulated demo district and fleet
  simulate              a simulated fleet (or --fleet FILE) against a hub: real time, --fast-forward 6h,
                        or --load --devices 10000; see gridhub simulate --help
  scenario run|check F  rehearse scenario files against a manual-clock hub (scenarios/README.md)
  migrate               bring the store's schema up to date and exit
  admin token           print where the admin token is kept
  admin create-user     create a user (the first admin): --id ID --role admin [--name N]
                        [--unit UNIT] [--grids CODE,CODE]; the password is read from stdin
                        (or prompted for on a terminal) and must pass the password policy

Options:
  --config FILE         JSON configuration (environment variables win over it)
  --help                this text

Environment:
${Object.entries(ENV_KEYS)
  .map(([k, v]) => `  ${k.padEnd(28)} ${v.doc}`)
  .join('\n')}
`;

async function main(argv: string[]): Promise<number> {
  // The simulators parse their own options (and their own --help).
  const first = argv.find((a) => !a.startsWith('-'));
  if (first === 'simulate') {
    const { runSimulateCommand } = await import('../simulators/index.ts');
    return runSimulateCommand(argv);
  }
  if (first === 'scenario') {
    const { runScenarioCommand } = await import('../simulators/index.ts');
    return runScenarioCommand(argv);
  }
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: {
      config: { type: 'string' },
      help: { type: 'boolean' },
      id: { type: 'string' },
      role: { type: 'string' },
      name: { type: 'string' },
      unit: { type: 'string' },
      grids: { type: 'string' },
    },
  });
  const command = positionals[0];
  if (values.help || !command || command === 'help') {
    process.stdout.write(HELP);
    return command || values.help ? 0 : 2;
  }
  const configFile = typeof values.config === 'string' ? values.config : undefined;
  const loadCfg = () => loadConfig({ file: configFile, env: process.env });

  switch (command) {
    case 'start':
      return runHub(loadCfg(), { demo: false });
    case 'demo': {
      // The demo's console shows the banner and warnings, not every info line, unless asked.
      const env = { GRIDHUB_LOG_LEVEL: 'warn', ...process.env };
      return runHub(loadConfig({ file: configFile, env }), { demo: true });
    }
    case 'migrate': {
      const config = loadCfg();
      const logger = createLogger(config.logLevel);
      const { openStore } = await import('../store/index.ts');
      const store = await openStore({ ...config, migrate: config.store, logger });
      await store.close();
      process.stdout.write(`store is up to date (${store.db.driver}, ${store.dialect})\n`);
      return 0;
    }
    case 'admin': {
      const config = loadCfg();
      if (positionals[1] === 'token') {
        process.stdout.write(
          config.adminToken
            ? 'the admin token is set by GRIDHUB_ADMIN_TOKEN\n'
            : `${config.dataDir}/admin-token\n`,
        );
        return 0;
      }
      if (positionals[1] === 'create-user') return createUserCommand(config, values);
      process.stderr.write('usage: gridhub admin token | gridhub admin create-user --id ID --role ROLE\n');
      return 2;
    }
    default:
      process.stderr.write(`unknown command '${command}'\n\n${HELP}`);
      return 2;
  }
}

/** Reads a password: all of stdin when it is piped, else a prompt on the terminal (not echoed). */
async function readPassword(): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of stdin) {
      chunks.push(c as Buffer);
      if (chunks.reduce((n, b) => n + b.length, 0) > 4096) break;
    }
    return Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  }
  process.stderr.write('password: ');
  stdin.setRawMode(true);
  stdin.resume();
  let pw = '';
  try {
    for await (const chunk of stdin) {
      for (const ch of (chunk as Buffer).toString('utf8')) {
        if (ch === '\r' || ch === '\n') return pw;
        if (ch === '\u0003') throw new Error('cancelled');
        if (ch === '\u007f') pw = pw.slice(0, -1);
        else pw += ch;
      }
    }
    return pw;
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}

async function createUserCommand(
  config: Config,
  values: Record<string, string | boolean | undefined>,
): Promise<number> {
  const { createPeople, passwordProblem } = await import('../registry/index.ts');
  const { ROLES } = await import('../domain/index.ts');
  const id = typeof values.id === 'string' ? values.id : '';
  const role = typeof values.role === 'string' ? values.role : '';
  if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(id)) {
    process.stderr.write('--id: letters, digits and . _ @ - (1 to 64), e.g. --id alice\n');
    return 2;
  }
  if (!(ROLES as readonly string[]).includes(role)) {
    process.stderr.write(`--role: one of ${ROLES.join(', ')}\n`);
    return 2;
  }
  const name = typeof values.name === 'string' ? values.name : id;
  const password = await readPassword();
  const problem = passwordProblem(password, { id, name });
  if (problem) {
    process.stderr.write(`password: ${problem}\n`);
    return 2;
  }
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  const { openStore } = await import('../store/index.ts');
  const { ensureDataDir } = await import('../hub/index.ts');
  if (!config.databaseUrl) ensureDataDir(config.dataDir);
  const store = await openStore({ ...config, migrate: config.store, logger });
  try {
    const people = await createPeople({ db: store.db, now: () => Date.now() });
    await people.load();
    const user = await people.users.create({
      id,
      name,
      role: role as (typeof ROLES)[number],
      unitId: typeof values.unit === 'string' ? values.unit : null,
      gridCodes: typeof values.grids === 'string' ? values.grids.split(',').filter(Boolean) : [],
      password,
    });
    process.stdout.write(`created user ${user.id} (${user.role}); sign in with POST /api/auth/login\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  } finally {
    await store.close();
  }
}

async function runHub(config: Config, opts: { demo: boolean }): Promise<number> {
  // The demo serves the dashboard: build its bundle when it is missing or older than its sources
  // (npm ci builds it; this covers a checkout updated since). `start` only warns (see web/server.ts).
  if (opts.demo && config.adminToken === 'off') {
    // The demo provisions its district, units and people through the hub's own HTTP API as the
    // admin; with the static token off there is no one to do that before the first admin exists.
    throw new ConfigError([
      'adminToken (GRIDHUB_ADMIN_TOKEN): `off` cannot be used with `gridhub demo`, which provisions the demo district through the API with the admin token; unset it or set a token of 16+ characters',
    ]);
  }
  if (opts.demo) {
    const { ensureUi, uiBundleState } = await import('../web/index.ts');
    if (uiBundleState() !== 'ok') {
      process.stdout.write('gridhub: building the dashboard bundle (web/ui/dist)…\n');
      await ensureUi().catch((err: Error) =>
        process.stderr.write(`gridhub: the dashboard could not be built: ${err.message}\n`),
      );
    }
  }
  const hub = createHub(config);
  let stopping = false;
  let fleet: { stop(): Promise<void> } | undefined;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    hub.logger.info({ signal }, 'stopping');
    // The hub drains in order (hub.stop); whatever still hangs after 10 s is cut (issue 8).
    setTimeout(() => {
      hub.logger.error('shutdown took over 10 s; exiting anyway');
      hub.logger.flush?.();
      process.exit(1);
    }, 9_500).unref();
    await fleet?.stop().catch(() => {});
    await hub.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  const urls = await hub.start();
  process.stdout.write(
    `gridhub ready http=${urls.httpUrl} mqtt=${urls.mqttUrl}${urls.mqttsUrl ? ` mqtts=${urls.mqttsUrl}` : ''}\n`,
  );
  if (opts.demo) {
    const { startDemo } = await import('./demo.ts');
    fleet = await startDemo({ hub, urls });
  }
  return new Promise<number>(() => {});
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
    if (code !== undefined) process.exit(code);
  },
  (err) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${redactUrlPasswords(err.message)}\n`);
      process.exit(2);
    }
    // A bad DATABASE_URL must not be echoed with its password (issue 7, finding 6).
    const message = redactUrlPasswords(err instanceof Error ? err.message : String(err));
    process.stderr.write(`gridhub: ${message}\n`);
    process.exit(1);
  },
);
