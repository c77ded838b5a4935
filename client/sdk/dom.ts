/**
 * Zero-code integration: lists marked [data-fedrank-list] whose children carry data-fedrank-item are
 * re-ordered once the model is ready (and again when the shop re-renders them), impressions are recorded
 * with an IntersectionObserver, clicks with one delegated listener, and [data-fedrank-query] supplies the
 * query. Reordering moves the existing nodes, keeps focus and the scroll position.
 */
import type { RankItem, TrackType } from '../types.ts';

/** What the DOM integration needs from the SDK. */
export interface DomHost {
  rank<T extends RankItem>(items: T[], o?: { query?: string }): Promise<T[]>;
  track(e: { type: TrackType; item: RankItem; query?: string }): Promise<void>;
  whenReady(cb: () => void): void;
  blocked(): boolean;
}

const LIST = '[data-fedrank-list]';
const ITEM = '[data-fedrank-item]';

function itemOf(el: Element): RankItem | null {
  const d = (el as HTMLElement).dataset;
  if (!d || !d.fedrankItem) return null;
  const it: RankItem = { id: d.fedrankItem };
  if (d.fedrankCategory) it.category = d.fedrankCategory;
  if (d.fedrankBrand) it.brand = d.fedrankBrand;
  const price = d.fedrankPrice ? Number.parseFloat(d.fedrankPrice) : NaN;
  if (Number.isFinite(price)) it.price = price;
  return it;
}

function currentQuery(): string {
  const el = document.querySelector(`input[data-fedrank-query],textarea[data-fedrank-query]`);
  return el ? (el as HTMLInputElement).value.slice(0, 256) : '';
}

/** Starts the integration; returns a function that stops it. */
export function attachDom(host: DomHost): () => void {
  if (typeof document === 'undefined' || typeof MutationObserver === 'undefined') return () => {};
  const rankedSig = new WeakMap<Element, string>();
  const seen = new WeakSet<Element>();
  let ready = false;
  let scanQueued = false;

  const io =
    typeof IntersectionObserver === 'undefined'
      ? null
      : new IntersectionObserver(
          (entries) => {
            for (const e of entries) {
              if (!e.isIntersecting || seen.has(e.target)) continue;
              seen.add(e.target);
              io?.unobserve(e.target);
              const item = itemOf(e.target);
              if (item && !host.blocked())
                void host.track({ type: 'impression', item, query: currentQuery() });
            }
          },
          { threshold: 0.5 },
        );

  const children = (list: Element): Element[] => Array.from(list.children).filter((c) => c.matches(ITEM));

  async function reorder(list: Element): Promise<void> {
    const els = children(list);
    const sig = els.map((e) => (e as HTMLElement).dataset.fedrankItem).join('\u0000');
    if (els.length < 2 || rankedSig.get(list) === sig) return;
    rankedSig.set(list, sig);
    const items = els.map((el) => ({ el, item: itemOf(el)! }));
    const ranked = await host.rank(
      // The index travels with the item (indexOf here was quadratic: long tasks on lists of thousands).
      items.map((x, i) => ({ ...x.item, _i: i })),
      { query: currentQuery() },
    );
    // The list may have changed while the worker ranked: then the next scan ranks the new content.
    if (children(list).some((c, i) => c !== els[i]) || host.blocked()) return;
    const order = ranked.map((r) => items[(r as { _i: number })._i]!.el);
    if (order.every((el, i) => el === els[i])) {
      (list as HTMLElement).dataset.fedrankRanked = 'same';
      return;
    }
    const active = document.activeElement;
    const sx = window.scrollX;
    const sy = window.scrollY;
    const mine = new Set<Node>(els);
    const onlyItems = Array.from(list.childNodes).every(
      (n) => mine.has(n) || (n.nodeType === Node.TEXT_NODE && !n.textContent?.trim()),
    );
    if (onlyItems) {
      // Only items: one append moves them all (a fraction of the DOM work of per-node placeholders).
      list.append(...order);
    } else {
      // Placeholders keep non-item children where they were; items fill the item slots in the new order.
      const slots = els.map((el) => {
        const ph = document.createComment('');
        el.replaceWith(ph);
        return ph;
      });
      slots.forEach((ph, i) => ph.replaceWith(order[i]!));
    }
    mo.takeRecords();
    if (active instanceof HTMLElement && list.contains(active) && document.activeElement !== active) {
      active.focus({ preventScroll: true });
    }
    if (window.scrollX !== sx || window.scrollY !== sy) window.scrollTo(sx, sy);
    (list as HTMLElement).dataset.fedrankRanked = 'reordered';
  }

  function scan(): void {
    scanQueued = false;
    if (host.blocked()) return;
    for (const list of Array.from(document.querySelectorAll(LIST))) {
      for (const el of children(list)) if (!seen.has(el)) io?.observe(el);
      if (ready) void reorder(list).catch(() => undefined);
    }
  }
  function queueScan(): void {
    if (scanQueued) return;
    scanQueued = true;
    setTimeout(scan, 30);
  }

  const onClick = (ev: Event): void => {
    try {
      const t = ev.target instanceof Element ? ev.target : null;
      const el = t?.closest(ITEM);
      if (!el || !el.closest(LIST) || host.blocked()) return;
      const item = itemOf(el);
      if (!item) return;
      const action = t?.closest('[data-fedrank-action]') as HTMLElement | null;
      const a = action?.dataset.fedrankAction;
      const type: TrackType = a === 'add_to_cart' || a === 'purchase' ? a : 'click';
      void host.track({ type, item, query: currentQuery() });
    } catch {
      // never into the page
    }
  };
  document.addEventListener('click', onClick, { capture: true, passive: true });

  const mo = new MutationObserver((records) => {
    for (const r of records) {
      for (const n of Array.from(r.addedNodes)) {
        if (n instanceof Element && (n.matches(`${LIST},${ITEM}`) || n.querySelector(LIST)))
          return queueScan();
      }
    }
  });
  mo.observe(document.documentElement, { childList: true, subtree: true });

  host.whenReady(() => {
    ready = true;
    queueScan();
  });
  queueScan();
  return () => {
    mo.disconnect();
    io?.disconnect();
    document.removeEventListener('click', onClick, { capture: true });
  };
}
