// Demo storefront page script: quick view, cart counter and the "why this order" panel.
// It talks to fedrank only through the public window.fedrank API (a queue until the SDK loads).
(function () {
  'use strict';
  var cart = 0;
  var dialog = document.getElementById('quick');
  var body = document.getElementById('quick-body');
  var current = null;

  function itemOf(li) {
    return {
      id: li.getAttribute('data-fedrank-item'),
      category: li.getAttribute('data-fedrank-category') || undefined,
      brand: li.getAttribute('data-fedrank-brand') || undefined,
      price: Number(li.getAttribute('data-fedrank-price')) || undefined,
    };
  }

  // A tile click opens a quick view in place (no navigation), the SDK records the click on the item itself.
  document.addEventListener('click', function (e) {
    var tile = e.target instanceof Element ? e.target.closest('.tile') : null;
    if (!tile || !dialog || !body) return;
    var li = tile.closest('[data-fedrank-item]');
    if (!li) return;
    current = li;
    body.textContent = '';
    var clone = tile.cloneNode(true);
    clone.removeAttribute('data-sku');
    clone.className = 'tile big';
    body.appendChild(clone);
    if (typeof dialog.showModal === 'function' && !dialog.open) dialog.showModal();
  });

  if (dialog) {
    dialog.addEventListener('close', function () {
      if (dialog.returnValue === 'cart' && current) {
        cart += 1;
        var c = document.getElementById('cart');
        if (c) c.textContent = String(cart);
        try {
          window.fedrank && window.fedrank.track({ type: 'add_to_cart', item: itemOf(current) });
        } catch (err) {
          /* the SDK never throws, but the page must not depend on it */
        }
      }
      current = null;
    });
  }

  function row(dl, k, v) {
    var dt = document.createElement('dt');
    dt.textContent = k;
    var dd = document.createElement('dd');
    dd.textContent = v;
    dl.appendChild(dt);
    dl.appendChild(dd);
  }

  // The explanation itself comes from why.js (window.fedrankWhy), so it is tested apart from the DOM.
  function render(s) {
    var dl = document.getElementById('why-status');
    if (!dl) return;
    dl.textContent = '';
    var why = typeof window.fedrankWhy === 'function' ? window.fedrankWhy(s) : null;
    if (!why) {
      row(dl, 'Status', 'loading…');
      return;
    }
    var summary = document.getElementById('why-summary');
    if (summary) summary.textContent = why.summary;
    if (why.rows.length === 0) row(dl, 'Status', why.summary);
    why.rows.forEach(function (r) {
      row(dl, r[0], r[1]);
    });
    if (s && s.backendReason) {
      var hint = document.createElement('p');
      hint.className = 'hint';
      hint.textContent = 'Backend: ' + s.backendReason;
      dl.appendChild(hint);
    }
    window.__fedrankLastStatus = s;
  }

  function poll() {
    try {
      if (window.fedrank && typeof window.fedrank.status === 'function') {
        Promise.resolve(window.fedrank.status()).then(render, function () {
          render(null);
        });
      } else render(null);
    } catch (err) {
      render(null);
    }
  }
  poll();
  setInterval(poll, 1500);

  var opt = document.getElementById('why-optout');
  if (opt)
    opt.addEventListener('click', function () {
      var s = window.__fedrankLastStatus;
      var out = s && s.optedOut;
      try {
        out ? window.fedrank.optIn() : window.fedrank.optOut();
      } catch (err) {}
      opt.textContent = out ? 'Opt out' : 'Opt in';
      setTimeout(poll, 200);
    });
  var forget = document.getElementById('why-forget');
  if (forget)
    forget.addEventListener('click', function () {
      try {
        Promise.resolve(window.fedrank.forget()).then(poll, poll);
      } catch (err) {}
    });
})();
