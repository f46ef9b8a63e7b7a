// Child process running one LoadGenerator (simulators/load-generator.ts) for the orchestrator.
// Commands: connect, start (closed loop, or a LoadPace such as the rules part's open-loop schedule),
// mark, snapshot, stopPublishing, stop.

import { LoadGenerator, type LoadGeneratorOptions, type LoadPace } from '../simulators/index.ts';
import { serve } from './proc.ts';

let gen: LoadGenerator | undefined;
const need = () => {
  if (!gen) throw new Error('connect first');
  return gen;
};

const { notify } = serve(
  {
    async connect(args: LoadGeneratorOptions & { progressEvery?: number }) {
      gen = new LoadGenerator(args);
      return gen.connect((done, failed) => notify('connect-progress', { done, failed }), args.progressEvery);
    },
    start: (pace?: LoadPace) => need().start(pace),
    mark: () => need().mark(),
    snapshot: () => need().snapshot(),
    stopPublishing: (args?: { timeoutMs?: number }) => need().stopPublishing(args?.timeoutMs),
  },
  async () => {
    await gen?.stopPublishing(2000);
    await gen?.close();
  },
);
