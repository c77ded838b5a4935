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

/** Mean NDCG@10 and HR@10 per model version from eval aggregates ({version, examples, hitsAt10, ndcgAt10}). */
function evalRows(list) {
  if (!Array.isArray(list)) return [];
  return list
    .map((e) => {
      const n = num(first(e.examples, e.count)) ?? 0;
      const version = num(first(e.modelVersion, e.version));
      const ndcg = num(e.meanNdcgAt10) ?? (n > 0 && num(e.ndcgAt10) !== null ? e.ndcgAt10 / n : null);
      const hit = num(e.meanHitAt10) ?? (n > 0 && num(e.hitsAt10) !== null ? e.hitsAt10 / n : null);
      return { version, examples: n, ndcgAt10: ndcg, hitAt10: hit };
    })
    .filter((e) => e.version !== null && e.examples > 0)
    .sort((a, b) => a.version - b.version);
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

/** The dashboard's view of the three admin replies. */
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
  };
}
