/** The options `fedrank eval` accepts and its `--help` text. */
export const OPTIONS = [
  'data',
  'mode',
  'split',
  'preset',
  'sigma',
  'epsilon',
  'delta',
  'rounds',
  'clients-per-round',
  'clip',
  'local-epochs',
  'lr',
  'batch-size',
  'shared-negatives',
  'loss',
  'client-batch',
  'server-opt',
  'server-lr',
  'server-beta2',
  'server-tau',
  'server-bias-correction',
  'server-decay',
  'seed',
  'eval-every',
  'eval-users',
  'max-users',
  'negatives',
  'epochs',
  'central-lr',
  'central-batch',
  'central-negatives',
  'central-in-batch',
  'central-decay',
  'central-example-negatives',
  'noise-path',
  'sampling',
  'encoding',
  'backend',
  'spec',
  'catalog-weights',
  'out',
  'plot',
  'jobs',
  'only-run',
  'visit-rate',
  'max-contributions',
  'min-separation',
  'epsilons',
] as const;

/** The `fedrank eval --help` text. */
export const USAGE = `usage: fedrank eval --data DIR [options]

  --data DIR                 dataset folder: *.txt (user item1 item2 ...) + *_item2attributes.json
  --preset NAME              recommended settings (beauty, private); without --mode runs the whole table
  --mode M                   popularity | centralized | federated
  --split valid|test         targets scored at the end (default valid, test with --preset;
                             intermediate points always use a validation subsample)
  --sigma S                  noise multiplier (default 0: no noise)
  --epsilon E [--delta D]    solve the noise for this user-level epsilon at delta (default 1e-5), by the
                             device's accountant (distributed discrete Gaussian over t survivors, k contributions)
  --epsilons E1,E2,...       the curve: popularity and one private run per epsilon (each with its floor)
  --rounds R --clients-per-round M --clip C --local-epochs E --lr LR --batch-size B
  --shared-negatives K       catalog negatives per local step, shared by its examples (default 128)
  --loss mean|sum            a client's step on the mean (each shopper weighs the same) or the sum
                             (weighted by examples, up to the clip) of its example losses
  --server-opt fedavg|fedadam --server-lr LR
  --server-beta2 B --server-tau T --server-bias-correction 0|1   FedAdam details
  --server-decay F           the server rate decays linearly to 0 over the last fraction F of the rounds
  --client-batch N           single-step clients per batched pass (0: one trainLocal per client)
  --noise-path aggregate|client   noise drawn once for the round's sum (fast) or by every client (exact)
  --sampling honest|poisson|shuffle  honest participation (default with noise: what ships), or, without
                             noise only, Poisson sampling at rate M/N or every shopper once per cycle
  --visit-rate P             honest: chance that a shopper is online in a round (default 0.5)
  --max-contributions K --min-separation B   honest: the device caps (default 1, 1)
  --rounds 0                 honest: as many rounds as the contributions fill, ceil(K N / M)
  --encoding i8|f32          update encoding (default i8)
  --epochs E --central-lr LR --central-batch B --central-negatives K --central-in-batch 0|1
                             --central-example-negatives K --central-decay F (as --server-decay)
                             centralized training
  --negatives K              catalog negatives per training example
  --seed N --eval-every K --eval-users N --max-users N
  --spec JSON                model spec overrides, e.g. '{"dim":16}'
  --catalog-weights on|off   weigh the on-device affinity by the dataset's catalog, as a server with
                             model.catalog does (default: the preset's; private: on)
  --backend wasm|cpu         tfjs backend (default wasm)
  --jobs J                   runs executed in parallel, one process each (default 1)
  --out FILE.json --plot FILE.svg
`;
