import { parseArgs } from 'node:util';
import { type Config, ENV_KEYS, loadConfig } from './config.ts';
import { ConfigError } from './errors.ts';
import { createHub, VERSION } from './hub.ts';
import { createLogger } from './logger.ts';

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
    const { runSimulateCommand } = await import('../simulators/cli.ts');
    return runSimulateCommand(argv);
  }
  if (first === 'scenario') {
    const { runScenarioCommand } = await import('../simulators/scenario/cli.ts');
    return runScenarioCommand(argv);
  }
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: {
      config: { type: 'string' },
      help: { type: 'boolean' },
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
      process.stderr.write('usage: gridhub admin token\n');
      return 2;
    }
    default:
      process.stderr.write(`unknown command '${command}'\n\n${HELP}`);
      return 2;
  }
}

async function runHub(config: Config, opts: { demo: boolean }): Promise<number> {
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
    const { startDemo } = await import('../simulators/demo.ts');
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
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`gridhub: ${message}\n`);
    process.exit(1);
  },
);
