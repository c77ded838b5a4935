// fedrank operator dashboard: signs in with the operator token (kept in sessionStorage), then polls the
// admin API and draws KPIs and uPlot charts. Plain ES module, no build step.
import { draw, resizeCharts } from './charts.js';
import { learningVerdict, roundWhy, toView } from './view-model.js';

const TOKEN_KEY = 'fedrank.operatorToken';
const params = new URLSearchParams(location.search);
const INTERVAL_MS = Math.max(500, Number(params.get('interval')) * 1000 || 2000);
const $ = (id) => document.getElementById(id);

let timer = null;

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

function render(v) {
  $('kpi-version').textContent = fmt(v.modelVersion);
  $('kpi-model').textContent = v.modelId
    ? `${v.modelId}${v.paramCount ? ` · ${v.paramCount} params` : ''}`
    : '–';
  if (v.round) {
    $('kpi-round').textContent = `#${v.round.id}`;
    const dl = v.round.deadline ? ` · deadline ${clock(v.round.deadline)}` : '';
    $('kpi-round-detail').textContent =
      `${v.round.accepted} of min ${v.round.minClients} / max ${v.round.maxClients} shoppers${dl}`;
    $('kpi-round-why').textContent = roundWhy(v.round, Date.now());
  } else {
    $('kpi-round').textContent = 'none';
    $('kpi-round-detail').textContent = 'no round open';
    $('kpi-round-why').textContent = v.roundNote || 'No round is open.';
  }
  $('signal-warning').hidden = !v.signalWarning;
  $('signal-text').textContent = v.signalWarning ? capital(v.signalWarning) + '.' : '';
  $('kpi-accepted').textContent = fmt(v.acceptedTotal);
  $('kpi-rejected').textContent = fmt(v.rejectedTotal);
  $('kpi-epsilon').textContent = fmt(v.epsilonSpent, 2);
  const budget = v.epsilonBudget;
  const frac = budget ? Math.min(1, v.epsilonSpent / budget) : 0;
  $('gauge-fill').style.width = `${(frac * 100).toFixed(1)}%`;
  $('gauge-fill').className = frac > 0.9 ? 'hot' : frac > 0.6 ? 'warm' : '';
  $('kpi-epsilon-detail').textContent = budget
    ? `of budget ${fmt(budget, 2)} at δ=${v.delta}, per shopper vs model observers`
    : `no budget set · δ=${v.delta ?? '–'}, per shopper vs model observers`;

  const closed = v.rounds.filter((r) => r.closed).sort((a, b) => a.id - b.id);
  const ids = closed.map((r) => r.id);
  draw(
    'chart-participants',
    ids,
    [{ label: 'shoppers', values: closed.map((r) => r.clients) }],
    { bars: true, xLabel: 'round', yMin: 0 },
    'No round has closed yet.',
  );
  const ev = v.evals;
  draw(
    'chart-eval',
    ev.map((e) => e.version),
    [
      { label: 'HR@10', values: ev.map((e) => e.hitAt10) },
      { label: 'HR@10 high', band: true, values: ev.map((e) => (e.hitCi ? e.hitCi[1] : null)) },
      { label: 'HR@10 low', band: true, values: ev.map((e) => (e.hitCi ? e.hitCi[0] : null)) },
      { label: 'NDCG@10', values: ev.map((e) => e.ndcgAt10), color: '#c2410c' },
      { label: 'NDCG@10 high', band: true, values: ev.map((e) => (e.ndcgCi ? e.ndcgCi[1] : null)) },
      { label: 'NDCG@10 low', band: true, values: ev.map((e) => (e.ndcgCi ? e.ndcgCi[0] : null)) },
    ],
    {
      xLabel: 'model version',
      yMin: 0,
      yMax: 1,
      bands: [
        { series: [2, 3], fill: '#2563eb22' },
        { series: [5, 6], fill: '#c2410c22' },
      ],
    },
    'No browser has reported an evaluation yet (SDK option data-eval-reports).',
  );
  const epsSeries = [{ label: 'ε spent', values: closed.map((r) => r.epsilon) }];
  if (budget)
    epsSeries.push({ label: 'budget', values: closed.map(() => budget), color: '#dc2626', dash: [6, 4] });
  draw('chart-epsilon', ids, epsSeries, { xLabel: 'round', yMin: 0 }, 'No round has closed yet.');

  $('secure-text').textContent = v.secure.text;
  const secureList = $('secure-rounds');
  secureList.textContent = '';
  for (const r of v.secure.rounds) {
    const li = document.createElement('li');
    li.textContent = `#${r.id} (round ${r.forRound}, ${r.phase}): ${r.text}`;
    secureList.append(li);
  }

  const help = learningVerdict(ev);
  $('helping').dataset.verdict = help.verdict;
  $('helping-text').textContent = help.text;
  $('helping-samples').textContent =
    help.base && help.latest
      ? `Based on ${help.latest.examples} clicks for version ${help.latest.version} and ${help.base.examples} for version 0.`
      : '';

  const ci = (c) => (c ? ` [${c[0].toFixed(2)}–${c[1].toFixed(2)}]` : '');
  fillRows(
    $('evals').querySelector('tbody'),
    [...ev]
      .reverse()
      .slice(0, 8)
      .map((e) => [
        String(e.version),
        fmt(e.reports),
        fmt(e.examples),
        `${fmt(e.hitAt10, 2)}${ci(e.hitCi)}`,
        `${fmt(e.ndcgAt10, 2)}${ci(e.ndcgCi)}`,
      ]),
    'No evaluation reports yet.',
  );

  const settings = $('settings');
  settings.textContent = '';
  for (const item of v.settings) {
    const dt = document.createElement('dt');
    dt.textContent = `${item.name}: ${typeof item.value === 'number' ? setting(item.value) : item.value}`;
    const dd = document.createElement('dd');
    dd.textContent = item.help;
    settings.append(dt, dd);
  }

  fillRows(
    $('refused').querySelector('tbody'),
    v.refusedOrigins.map((o) => [o.origin, String(o.count)]),
    'No browser has been refused.',
    true,
  );

  const rej = Object.entries(v.rejections).sort((a, b) => b[1] - a[1]);
  const max = rej.length ? rej[0][1] : 1;
  const body =
    $('rejections').querySelector('tbody') ?? $('rejections').appendChild(document.createElement('tbody'));
  fillRows(
    body,
    rej.map(([code, n]) => [code, String(n)]),
    'No update has been rejected.',
    true,
  );
  // Bar widths through the CSSOM (allowed under a strict CSP, unlike style attributes in markup).
  rej.forEach(([, n], i) => {
    const td = document.createElement('td');
    td.className = 'barcell';
    const bar = document.createElement('span');
    bar.style.width = `${((n / max) * 100).toFixed(0)}%`;
    td.append(bar);
    body.rows[i].append(td);
  });

  fillRows(
    $('rounds').querySelector('tbody'),
    [...v.rounds]
      .sort((a, b) => b.id - a.id)
      .slice(0, 8)
      .map((r) => [
        `#${r.id}`,
        fmt(r.version),
        fmt(r.clients),
        fmt(r.epsilon, 2),
        r.closedAt ? clock(r.closedAt) : r.closed ? 'yes' : 'open',
      ]),
    'No round yet.',
  );

  const info = $('server-info');
  info.textContent = '';
  for (const [k, val] of v.serverInfo) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = String(val);
    info.append(dt, dd);
  }
}

/** Replaces a table body's rows with text cells (first cell as code when `code`), or one muted row. */
function fillRows(tbody, rows, emptyText, code = false) {
  tbody.textContent = '';
  if (rows.length === 0) {
    const td = tbody.insertRow().insertCell();
    td.colSpan = 9;
    td.className = 'muted';
    td.textContent = emptyText;
    return;
  }
  for (const cells of rows) {
    const tr = tbody.insertRow();
    cells.forEach((text, i) => {
      const td = tr.insertCell();
      if (i === 0 && code) {
        const c = document.createElement('code');
        c.textContent = text;
        td.append(c);
      } else td.textContent = text;
      if (i > 0 && code) td.className = 'num';
    });
  }
}

/** A setting's value: small ones (delta) in exponent form, others with at most 2 decimals. */
const setting = (v) =>
  Number.isInteger(v) ? String(v) : Math.abs(v) < 0.01 ? v.toExponential(0) : String(Number(v.toFixed(2)));

const capital = (s) => s.charAt(0).toUpperCase() + s.slice(1);

/** 24-hour wall-clock time (short enough for a table cell in every locale). */
function clock(t) {
  return new Date(t).toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  });
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

window.addEventListener('resize', resizeCharts);

$('interval').textContent = String(INTERVAL_MS / 1000);
if (token()) tick();
else showLogin('');
