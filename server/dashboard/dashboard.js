// fedrank operator dashboard: signs in with the operator token (kept in sessionStorage), then polls the
// admin API and draws KPIs and uPlot charts. Plain ES module, no build step.
import { toView } from './view-model.js';

const TOKEN_KEY = 'fedrank.operatorToken';
const params = new URLSearchParams(location.search);
const INTERVAL_MS = Math.max(500, Number(params.get('interval')) * 1000 || 2000);
const $ = (id) => document.getElementById(id);

let timer = null;
const charts = {};

function showError(text) {
  const el = $('error');
  el.textContent = text;
  el.hidden = !text;
}

function setHealth(kind, text) {
  $('health').className = `health ${kind}`;
  $('health-text').textContent = text;
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** GET an admin route; resolves to the parsed body, throws {kind, message} on any failure. */
async function getJson(path) {
  let res;
  try {
    res = await fetch(path, { headers: { authorization: `Bearer ${token()}` }, cache: 'no-store' });
  } catch {
    throw { kind: 'down', message: `Cannot reach the fedrank server at ${location.origin}. Is it running?` };
  }
  if (res.status === 401 || res.status === 403) {
    throw {
      kind: 'auth',
      message: 'The server refused this operator token (401). Sign in again with the right token.',
    };
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON: fall through with the status line
  }
  if (!res.ok) {
    const code = body && body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${res.status}`;
    throw { kind: 'server', message: `The server answered ${path} with ${code}` };
  }
  return body;
}

function showLogin(message) {
  stop();
  $('app').hidden = true;
  $('signout').hidden = true;
  $('login').hidden = false;
  showError(message || '');
  $('token').focus();
}

function showApp() {
  $('login').hidden = true;
  $('app').hidden = false;
  $('signout').hidden = false;
}

function stop() {
  if (timer) clearTimeout(timer);
  timer = null;
}

const fmt = (v, digits = 3) =>
  v === null || v === undefined || Number.isNaN(v)
    ? '–'
    : Number.isInteger(v)
      ? String(v)
      : v.toFixed(digits);

// Integer steps only: x values are round ids or model versions.
const INT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];

function chartOpts(el, series, { bars = false, xLabel = '', yMin = null } = {}) {
  const palette = ['#2563eb', '#c2410c', '#16a34a', '#9333ea'];
  return {
    width: Math.max(260, el.clientWidth),
    height: 190,
    legend: { show: series.length > 1, live: false },
    scales: {
      x: {
        time: false,
        range: (_u, min, max) =>
          bars ? [min - 0.6, max + 0.6] : min === max ? [min - 1, max + 1] : [min, max],
      },
      y: {
        range: (_u, min, max) => [
          yMin ?? min,
          max === (yMin ?? min) ? max + 1 : max + (max - (yMin ?? min)) * 0.08,
        ],
      },
    },
    axes: [
      { stroke: '#667085', incrs: INT_INCRS, label: xLabel, labelSize: 18 },
      { stroke: '#667085', size: 64 },
    ],
    series: [
      { label: xLabel || 'x' },
      ...series.map((s, i) => ({
        label: s.label,
        stroke: s.color || palette[i % palette.length],
        width: 2,
        dash: s.dash,
        fill: bars ? `${palette[i % palette.length]}55` : undefined,
        paths: bars && window.uPlot ? window.uPlot.paths.bars({ size: [0.6, 40] }) : undefined,
        points: { show: !bars && !s.dash },
      })),
    ],
  };
}

/** Draws or updates a chart; shows a note instead when there is nothing to plot yet. */
function draw(id, xs, series, opts, emptyText) {
  const el = $(id);
  if (!window.uPlot) {
    el.textContent = 'Chart library failed to load.';
    return;
  }
  if (xs.length === 0) {
    if (charts[id]) {
      charts[id].destroy();
      delete charts[id];
    }
    el.innerHTML = `<p class="muted empty">${emptyText}</p>`;
    return;
  }
  const data = [xs, ...series.map((s) => s.values)];
  const key = series.map((s) => s.label).join('|');
  if (charts[id] && charts[id].__key === key) {
    charts[id].setData(data);
    return;
  }
  if (charts[id]) charts[id].destroy();
  el.textContent = '';
  const c = new window.uPlot(chartOpts(el, series, opts), data, el);
  c.__key = key;
  charts[id] = c;
}

function render(v) {
  $('kpi-version').textContent = fmt(v.modelVersion);
  $('kpi-model').textContent = v.modelId
    ? `${v.modelId}${v.paramCount ? ` · ${v.paramCount} params` : ''}`
    : '–';
  if (v.round) {
    $('kpi-round').textContent = `#${v.round.id}`;
    const dl = v.round.deadline ? ` · deadline ${clock(v.round.deadline)}` : '';
    $('kpi-round-detail').textContent =
      `${v.round.accepted} of min ${v.round.minClients} / max ${v.round.maxClients}${dl}` +
      (v.roundNote ? ` · ${v.roundNote}` : '');
  } else {
    $('kpi-round').textContent = 'none';
    $('kpi-round-detail').textContent = v.roundNote || 'no round open';
  }
  $('kpi-accepted').textContent = fmt(v.acceptedTotal);
  $('kpi-rejected').textContent = fmt(v.rejectedTotal);
  $('kpi-epsilon').textContent = fmt(v.epsilonSpent, 2);
  const budget = v.epsilonBudget;
  const frac = budget ? Math.min(1, v.epsilonSpent / budget) : 0;
  $('gauge-fill').style.width = `${(frac * 100).toFixed(1)}%`;
  $('gauge-fill').className = frac > 0.9 ? 'hot' : frac > 0.6 ? 'warm' : '';
  $('kpi-epsilon-detail').textContent = budget
    ? `of budget ${fmt(budget, 2)} at δ=${v.delta}`
    : `no budget set · δ=${v.delta ?? '–'}`;

  const closed = v.rounds.filter((r) => r.closed).sort((a, b) => a.id - b.id);
  const ids = closed.map((r) => r.id);
  draw(
    'chart-participants',
    ids,
    [{ label: 'clients', values: closed.map((r) => r.clients) }],
    { bars: true, xLabel: 'round', yMin: 0 },
    'No round has closed yet.',
  );
  draw(
    'chart-norm',
    ids,
    [{ label: 'mean norm', values: closed.map((r) => r.meanNorm) }],
    { xLabel: 'round' },
    'No round has closed yet.',
  );
  const ev = v.evals;
  draw(
    'chart-eval',
    ev.map((e) => e.version),
    [
      { label: 'NDCG@10', values: ev.map((e) => e.ndcgAt10) },
      { label: 'HR@10', values: ev.map((e) => e.hitAt10) },
    ],
    { xLabel: 'model version', yMin: 0 },
    'No client has reported an evaluation yet (SDK option data-eval-reports).',
  );
  const epsSeries = [{ label: 'ε spent', values: closed.map((r) => r.epsilon) }];
  if (budget)
    epsSeries.push({ label: 'budget', values: closed.map(() => budget), color: '#dc2626', dash: [6, 4] });
  draw('chart-epsilon', ids, epsSeries, { xLabel: 'round', yMin: 0 }, 'No round has closed yet.');

  const rej = Object.entries(v.rejections).sort((a, b) => b[1] - a[1]);
  const max = rej.length ? rej[0][1] : 1;
  $('rejections').innerHTML = rej.length
    ? rej
        .map(
          ([code, n]) =>
            `<tr><td><code>${esc(code)}</code></td><td class="num">${n}</td><td class="barcell"><span data-width="${((n / max) * 100).toFixed(0)}"></span></td></tr>`,
        )
        .join('')
    : '<tr><td class="muted">No update has been rejected.</td></tr>';
  // Widths through the CSSOM: the dashboard's CSP refuses inline style attributes.
  for (const bar of $('rejections').querySelectorAll('span[data-width]'))
    bar.style.width = `${bar.dataset.width}%`;

  $('rounds').querySelector('tbody').innerHTML = [...v.rounds]
    .sort((a, b) => b.id - a.id)
    .slice(0, 8)
    .map(
      (r) =>
        `<tr><td>#${r.id}</td><td>${fmt(r.version)}</td><td>${fmt(r.clients)}</td><td>${fmt(r.meanNorm)}</td><td>${fmt(r.epsilon, 2)}</td><td>${r.closedAt ? clock(r.closedAt) : r.closed ? 'yes' : 'open'}</td></tr>`,
    )
    .join('');

  $('server-info').innerHTML = v.serverInfo
    .map(([k, val]) => `<dt>${esc(k)}</dt><dd>${esc(String(val))}</dd>`)
    .join('');
}

/** 24-hour wall-clock time (short enough for a table cell in every locale). */
function clock(t) {
  return new Date(t).toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  });
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function health() {
  try {
    const res = await fetch('/healthz', { cache: 'no-store' });
    return res.ok;
  } catch {
    return false;
  }
}

async function tick() {
  try {
    const [status, rounds, rejections] = await Promise.all([
      getJson('/v1/admin/status'),
      getJson('/v1/admin/rounds?limit=100'),
      getJson('/v1/admin/rejections'),
    ]);
    const ok = await health();
    showApp();
    showError('');
    setHealth(ok ? 'ok' : 'bad', ok ? 'healthy' : 'unhealthy');
    render(toView(status, rounds, rejections));
    $('updated').textContent = clock(Date.now());
    document.body.dataset.state = 'live';
  } catch (err) {
    if (err && err.kind === 'auth') {
      sessionStorage.removeItem(TOKEN_KEY);
      document.body.dataset.state = 'auth-error';
      setHealth('unknown', 'signed out');
      showLogin(err.message);
      return;
    }
    document.body.dataset.state = err && err.kind === 'down' ? 'down' : 'error';
    setHealth('bad', err && err.kind === 'down' ? 'unreachable' : 'error');
    showError((err && err.message) || String(err));
  }
  timer = setTimeout(tick, INTERVAL_MS);
}

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const t = $('token').value.trim();
  if (!t) return;
  sessionStorage.setItem(TOKEN_KEY, t);
  $('token').value = '';
  stop();
  tick();
});

$('signout').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin('Signed out.');
});

window.addEventListener('resize', () => {
  for (const id of Object.keys(charts)) {
    const el = $(id);
    charts[id].setSize({ width: Math.max(260, el.clientWidth), height: 190 });
  }
});

$('interval').textContent = String(INTERVAL_MS / 1000);
if (token()) tick();
else showLogin('');
