// Turns the admin API replies (/v1/admin/status, /rounds, /rejections) into what the dashboard draws.
// Pure (no DOM) so it is unit-tested; tolerant of missing fields so an older server still renders.

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const first = (...vs) => {
  for (const v of vs) if (v !== undefined && v !== null) return v;
  return null;
};

/** One closed or open round, normalized. */
function roundRow(r) {
  const closedAt = first(r.closedAt, r.closed_at);
  const state = first(r.state, closedAt ? 'closed' : null);
  return {
    id: num(first(r.id, r.round)) ?? 0,
    closed: state === 'closed' || Boolean(closedAt),
    version: num(first(r.resultVersion, r.modelVersionAfter, r.versionAfter, r.modelVersion, r.version)),
    clients: num(first(r.participants, r.contributions, r.accepted, r.clients, r.count)) ?? 0,
    epsilon: num(first(r.epsilonAfter, r.epsilon, r.epsilonSpent)),
    closedAt,
    eval: r.eval ?? null,
  };
}

/** z of a two-sided 95% normal interval. */
const Z95 = 1.959964;

/**
 * 95% interval of a mean of per-example values in [0, 1] over n examples. Hit@10 is 0/1, so its variance
 * is m(1-m); NDCG@10 of one example lies in [0, 1], whose variance is at most m(1-m) for mean m, so the
 * same width is a conservative interval for it. Examples of one device are not independent: treat the
 * interval as a lower bound on the uncertainty when few devices report.
 */
export function interval95(mean, n) {
  if (mean === null || !(n > 0)) return null;
  const half = Z95 * Math.sqrt(Math.max(0, mean * (1 - mean)) / n);
  return [Math.max(0, mean - half), Math.min(1, mean + half)];
}

/** Mean NDCG@10 and HR@10 per model version from eval aggregates ({version, examples, hitsAt10, ndcgAt10}). */
function evalRows(list) {
  if (!Array.isArray(list)) return [];
  return list
    .map((e) => {
      const n = num(first(e.examples, e.count)) ?? 0;
      const version = num(first(e.modelVersion, e.version));
      const ndcg = num(e.meanNdcgAt10) ?? (n > 0 && num(e.ndcgAt10) !== null ? e.ndcgAt10 / n : null);
      const hit = num(e.meanHitAt10) ?? (n > 0 && num(e.hitsAt10) !== null ? e.hitsAt10 / n : null);
      return {
        version,
        examples: n,
        reports: num(e.reports) ?? null,
        ndcgAt10: ndcg,
        hitAt10: hit,
        ndcgCi: interval95(ndcg, n),
        hitCi: interval95(hit, n),
      };
    })
    .filter((e) => e.version !== null && e.examples > 0)
    .sort((a, b) => a.version - b.version);
}

/** Fewest examples a comparison needs before it says anything. */
const MIN_EXAMPLES = 30;

/**
 * "Is learning helping?": HR@10 of the newest evaluated global model against version 0 (the untrained
 * global model: what the devices' own on-device personalization achieves alone), with a 95% interval of
 * the difference. Verdict 'helping' / 'hurting' only when the interval excludes 0.
 */
export function learningVerdict(evals) {
  const base = evals.find((e) => e.version === 0 && e.examples > 0) ?? null;
  // The newest trained version with enough examples; else the newest one (to say it has too few).
  const trained = [...evals].reverse().filter((e) => e.version > 0 && e.examples > 0);
  const latest = trained.find((e) => e.examples >= MIN_EXAMPLES) ?? trained[0] ?? null;
  if (!base)
    return {
      verdict: 'unknown',
      text: 'No on-device baseline yet: devices report it for model version 0.',
      base,
      latest,
    };
  if (!latest)
    return { verdict: 'unknown', text: 'No evaluation of a trained global model yet.', base, latest };
  if (base.examples < MIN_EXAMPLES || latest.examples < MIN_EXAMPLES)
    return {
      verdict: 'unknown',
      text: `Too few examples to tell (${latest.examples} vs ${base.examples}; at least ${MIN_EXAMPLES} each).`,
      base,
      latest,
    };
  const p1 = latest.hitAt10;
  const p0 = base.hitAt10;
  const diff = p1 - p0;
  const half = Z95 * Math.sqrt((p1 * (1 - p1)) / latest.examples + (p0 * (1 - p0)) / base.examples);
  const ci = [diff - half, diff + half];
  const pts = (x) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}`;
  const range = `${pts(diff)} points HR@10 (95% interval ${pts(ci[0])} to ${pts(ci[1])})`;
  if (ci[0] > 0)
    return {
      verdict: 'helping',
      text: `Yes: version ${latest.version} ranks better than on-device alone, ${range}.`,
      diff,
      ci,
      base,
      latest,
    };
  if (ci[1] < 0)
    return {
      verdict: 'hurting',
      text: `No: version ${latest.version} ranks worse than on-device alone, ${range}. Check the round size warning.`,
      diff,
      ci,
      base,
      latest,
    };
  return {
    verdict: 'unclear',
    text: `Not measurably: ${range}; more reports will narrow it.`,
    diff,
    ci,
    base,
    latest,
  };
}

/** Why the open round has not closed yet, in words (needs the clock, `now` in ms). */
export function roundWhy(round, now) {
  if (!round) return null;
  const missing = Math.max(0, round.minClients - round.accepted);
  const left = round.deadline ? Math.round((Date.parse(round.deadline) - now) / 1000) : null;
  const who = (n) => `${n} more shopper${n === 1 ? '' : 's'}`;
  if (missing > 0) {
    if (left === null) return `Waiting for ${who(missing)} (needs ${round.minClients}).`;
    return left > 0
      ? `Waiting for ${who(missing)} (needs ${round.minClients}); deadline in ${left} s.`
      : `Deadline passed ${-left} s ago; closes as soon as ${who(missing)} ${missing === 1 ? 'contributes' : 'contribute'} (needs ${round.minClients}).`;
  }
  if (left !== null && left > 0)
    return `Has enough shoppers; closes at its deadline in ${left} s, or at ${round.maxClients}.`;
  return `Has enough shoppers; closes at ${round.maxClients} or at the next upload.`;
}

/** Flattens a few scalar facts about the server for the "Server" panel. */
function serverFacts(s) {
  const out = [];
  const add = (k, v) => {
    if (v !== undefined && v !== null && typeof v !== 'object') out.push([k, v]);
  };
  const up = num(first(s.uptimeSeconds, s.uptime));
  if (up !== null)
    add(
      'uptime',
      up >= 3600
        ? `${(up / 3600).toFixed(1)} h`
        : up >= 60
          ? `${(up / 60).toFixed(1)} min`
          : `${up.toFixed(0)} s`,
    );
  add('store', first(s.store, s.storeKind));
  if (s.health && typeof s.health === 'object')
    add('store health', s.health.store ?? (s.health.ok ? 'ok' : 'failing'));
  add(
    'server version',
    first(s.serverVersion, s.version && typeof s.version === 'string' ? s.version : null),
  );
  const t = s.training ?? (s.config && s.config.training) ?? null;
  if (t) {
    add('clip bound C', t.clipNorm);
    add('noise σ', t.noiseMultiplier);
    add('noise mode', t.noiseMode);
    add('update encoding', t.updateEncoding);
  }
  const mem = num(first(s.rssBytes, s.memory && s.memory.rss));
  if (mem !== null) add('memory (RSS)', `${(mem / 2 ** 20).toFixed(0)} MiB`);
  return out;
}

/** The privacy and training settings, each with a one-line explanation for a shop owner. */
function settingsOf(s) {
  const t = s.training ?? {};
  const p = s.privacy ?? {};
  const r = s.rounds ?? {};
  const rows = [
    [
      'Privacy spent ε (epsilon)',
      p.epsilonSpent,
      'How much the released models can reveal about any one shopper, to anyone who sees them (you included), if devices add the configured noise; lower is more private (1-8 is common).',
    ],
    [
      'δ (delta)',
      p.delta,
      'The small chance that the ε guarantee does not hold; lower is better, well below 1/number of shoppers.',
    ],
    [
      'Noise σ (sigma)',
      t.noiseMultiplier,
      'Noise added to every update, relative to the clip: higher is more private but learns more slowly.',
    ],
    [
      'Clip C',
      t.clipNorm,
      'The most one shopper can move the model in one update; it is what the noise hides.',
    ],
    [
      'Noise mode',
      t.noiseMode,
      'distributed: each device adds a share of the noise, the sum carries σ·C; local: every device adds all of it.',
    ],
    [
      'Update encoding',
      t.updateEncoding,
      'How updates travel: i8 is 4x smaller than f32 with unbiased rounding; no privacy effect.',
    ],
    [
      'Shoppers per round',
      r.minClients,
      'A round closes with at least this many updates; more per round means less noise per shopper.',
    ],
  ];
  return rows
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([name, value, help]) => ({ name, value, help }));
}

/** The dashboard's view of the three admin replies. */
/**
 * The secure-aggregation card: what the server sees of each upload, and the newest secure round's figures
 * (admin status `secureAggregation`; null when it is off).
 */
export function secureSummary(sa) {
  if (!sa || typeof sa !== 'object')
    return {
      on: false,
      text: 'Off: rounds use local noise (each browser adds the full noise), for deployments too small for a cohort. The server sees each noised update on its own.',
      rounds: [],
    };
  const t = sa.totals ?? {};
  const list = [sa.current, ...(Array.isArray(sa.recent) ? sa.recent : [])].filter(
    (r) => r && typeof r === 'object',
  );
  const rounds = list.slice(0, 5).map((r) => {
    const v = r.survivors ?? {};
    const ms = r.phaseMs ?? {};
    const secs = ['advertise', 'share', 'mask', 'unmask']
      .filter((p) => num(ms[p]) !== null)
      .map((p) => `${p} ${(ms[p] / 1000).toFixed(1)} s`)
      .join(', ');
    return {
      id: num(r.secureRound) ?? 0,
      forRound: num(r.forRound) ?? 0,
      phase: String(r.phase ?? '?'),
      text:
        `cohort ${num(r.cohort) ?? '?'}, threshold ${num(r.threshold) ?? '?'}; survivors ` +
        `${num(v.advertise) ?? 0} / ${num(v.share) ?? 0} / ${num(v.mask) ?? 0} / ${num(v.unmask) ?? 0}` +
        ` (advertise / share / mask / unmask), ${num(r.dropouts) ?? 0} dropped` +
        (secs ? `; ${secs}` : '') +
        (typeof r.failure === 'string' ? `; failed: ${r.failure}` : ''),
    };
  });
  return {
    on: true,
    text: `On: the server only ever sees the sum of a round's masked updates. ${num(t.completed) ?? 0} secure rounds completed, ${num(t.failed) ?? 0} failed (${num(t.unmaskFailures) ?? 0} at unmask).`,
    rounds,
  };
}

export function toView(status, rounds, rejections) {
  const s = status ?? {};
  const model = s.model ?? s.manifest ?? {};
  const privacy = s.privacy ?? {};
  const roundList = Array.isArray(rounds)
    ? rounds
    : Array.isArray(rounds && rounds.rounds)
      ? rounds.rounds
      : [];
  const rows = roundList.map(roundRow);
  const rejBy =
    (rejections && (rejections.byReason ?? rejections.counts ?? rejections.reasons)) ?? rejections ?? {};
  const rejectionsMap = {};
  if (Array.isArray(rejBy)) {
    for (const r of rejBy) if (r && typeof r.code === 'string') rejectionsMap[r.code] = num(r.count) ?? 0;
  } else if (typeof rejBy === 'object') {
    for (const [k, v] of Object.entries(rejBy)) if (num(v) !== null && k !== 'total') rejectionsMap[k] = v;
  }
  const rejectedSum = Object.values(rejectionsMap).reduce((a, b) => a + b, 0);
  const open = s.round ?? model.round ?? null;
  const totals = s.totals ?? s.updates ?? {};
  return {
    modelVersion: num(first(model.version, s.modelVersion)),
    modelId: first(model.modelId, s.modelId),
    paramCount: num(first(model.paramCount, s.paramCount)),
    round:
      open && open.state !== 'closed'
        ? {
            id: num(open.id) ?? 0,
            accepted: num(open.accepted) ?? 0,
            minClients: num(open.minClients) ?? 0,
            maxClients: num(open.maxClients) ?? 0,
            deadline: open.deadline ?? null,
          }
        : null,
    roundNote: typeof s.roundNote === 'string' ? s.roundNote : typeof s.note === 'string' ? s.note : null,
    acceptedTotal: num(first(totals.accepted, s.acceptedTotal, s.accepted)),
    rejectedTotal:
      num(first(totals.rejected, s.rejectedTotal, rejections && rejections.total)) ?? rejectedSum,
    epsilonSpent: num(first(privacy.epsilonSpent, s.epsilonSpent)) ?? 0,
    epsilonBudget: num(first(privacy.epsilonBudget, s.epsilonBudget)),
    delta: num(first(privacy.delta, s.delta)),
    rounds: rows,
    evals: evalRows(first(s.evals, s.eval, s.evaluations)),
    rejections: rejectionsMap,
    serverInfo: serverFacts(s),
    refusedOrigins: Array.isArray(s.refusedOrigins)
      ? s.refusedOrigins
          .filter((o) => o && typeof o.origin === 'string')
          .map((o) => ({ origin: o.origin, count: num(o.count) ?? 0 }))
      : [],
    signalWarning: s.roundSignal && typeof s.roundSignal.warning === 'string' ? s.roundSignal.warning : null,
    settings: settingsOf(s),
    secure: secureSummary(s.secureAggregation),
  };
}
