// Child process running one LoadGenerator (./load.ts) for the orchestrator.
// Commands: connect, start, mark, snapshot, stopPublishing, stop.

import { type LoadGenerator as Gen, LoadGenerator, type LoadOptions } from './load.ts';
import { serve } from './proc.ts';

let gen: Gen | undefined;
const need = () => {
  if (!gen) throw new Error('connect first');
  return gen;
};

const { notify } = serve(
  {
    async connect(args: LoadOptions & { progressEvery?: number }) {
      gen = new LoadGenerator(args);
      return gen.connect((done, failed) => notify('connect-progress', { done, failed }), args.progressEvery);
    },
    start: () => need().start(),
    mark: () => need().mark(),
    snapshot: () => need().snapshot(),
    stopPublishing: (args?: { timeoutMs?: number }) => need().stopPublishing(args?.timeoutMs),
  },
  async () => {
    await gen?.stopPublishing(2000);
    await gen?.close();
  },
);
