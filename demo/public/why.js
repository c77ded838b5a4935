// The demo's "Why this order?" explanation, from the SDK's public status() only: a pure function
// (window.fedrankWhy), unit-tested in demo/why.test.ts, rendered by shop.js.
(function (root) {
  'use strict';

  var SERVER_PROBLEMS = {
    SDK_ORIGIN_REFUSED: 'the server refuses this shop’s address',
    SDK_SERVER_UNREACHABLE: 'the server cannot be reached',
  };

  function num(v) {
    if (typeof v !== 'number') return '—';
    if (!isFinite(v)) return '∞';
    return Number.isInteger(v) ? String(v) : v.toFixed(2);
  }

  /** The order's source in words: what re-orders this grid now. */
  function orderFrom(s) {
    if (s.optedOut) return 'the shop’s own order (you opted out; nothing is learned)';
    if (!s.ready) return 'the shop’s own order (personalization is not running)';
    var hasModel = s.globalWeight !== null && s.globalWeight !== undefined;
    if (!s.personalized) {
      return hasModel && s.globalWeight > 0
        ? 'the shared model only: not personalized to you yet (no clicks)'
        : 'the shop’s own order: not personalized yet (no clicks)';
    }
    if (!hasModel) return 'your clicks, on this device only (no shared model)';
    if (s.globalWeight === 0)
      return 'your clicks, on this device only: your device measured that the shared model ranks your own clicks worse, so it is not used';
    return (
      'your clicks on this device, plus the shared model at weight ' +
      num(s.globalWeight) +
      (s.globalWeight < 1 ? ' (lowered: it helped your own clicks less)' : '')
    );
  }

  /** The shared (global) model's state in words. */
  function sharedModel(s) {
    var problem = SERVER_PROBLEMS[s.lastError];
    if (problem) {
      var base =
        s.modelVersion !== null && s.modelVersion !== undefined
          ? 'version ' + s.modelVersion + ' (kept); '
          : 'none: ';
      return base + problem + ' (' + s.lastError + '); learning stays on this device';
    }
    return s.modelVersion !== null && s.modelVersion !== undefined ? 'version ' + s.modelVersion : 'none yet';
  }

  /** What this device contributes, and the budget. */
  function privacy(s) {
    if (s.optedOut) return 'nothing learned or sent (opted out)';
    if (s.dp === 'off') return 'differential privacy turned off by the shop';
    if (s.budgetExhausted)
      return (
        'privacy budget spent (ε ' +
        num(s.epsilonSpent) +
        ' of ' +
        num(s.epsilonBudget) +
        '): learning stays on this device'
      );
    return (
      'ε ' +
      num(s.epsilonSpent) +
      ' of ' +
      num(s.epsilonBudget) +
      " spent: a bound on what the aggregation server can learn about you from your uploads (this device's own ledger, with the noise the device adds; docs/privacy.md)"
    );
  }

  /**
   * The panel's content: a one-line summary and labelled rows. `s` is a FedrankStatus (or nothing while
   * the SDK loads).
   */
  function explain(s) {
    if (!s || typeof s !== 'object') return { summary: 'SDK not loaded yet', rows: [] };
    var personalized = !!(s.ready && s.personalized && !s.optedOut);
    return {
      summary: 'Ordered by ' + orderFrom(s) + '.',
      rows: [
        ['Personalized', personalized ? 'yes' : 'no'],
        ['Shared model', sharedModel(s)],
        ['Privacy', privacy(s)],
        ['Interactions on this device', num(s.eventsStored)],
        ['Private updates sent', num(s.updatesSent)],
        ['Updates waiting', num(s.updatesPending)],
        ['Runs on', s.backend || '—'],
        ['Storage', s.storage === 'indexeddb' ? 'IndexedDB' : String(s.storage)],
        ['Global Privacy Control', s.gpc ? 'yes' : 'no'],
        ['Last issue', s.lastError || '—'],
      ],
    };
  }

  root.fedrankWhy = explain;
})(typeof window !== 'undefined' ? window : this);
