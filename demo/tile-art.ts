/**
 * Product pictures for the demo storefront: one small hand-drawn SVG glyph per category on the tile's
 * colour gradient (emoji would depend on the viewer's fonts; headless browsers often have none).
 */
const GLYPHS: Record<string, string> = {
  'Coffee & Tea':
    '<path d="M38 30h36v22a14 14 0 0 1-14 14h-8a14 14 0 0 1-14-14z"/><path d="M74 36h5a8 8 0 0 1 0 16h-5" fill="none" stroke="currentColor" stroke-width="5"/><path d="M48 14c-4 5 4 8 0 13M58 14c-4 5 4 8 0 13" fill="none" stroke="currentColor" stroke-width="3" stroke-linecap="round"/>',
  Kitchen:
    '<circle cx="50" cy="44" r="22"/><rect x="70" y="40" width="34" height="8" rx="4"/><circle cx="50" cy="44" r="12" fill-opacity=".35" fill="#000"/>',
  Outdoor:
    '<path d="M60 14 94 68H26z"/><path d="M60 36 72 68H48z" fill="#000" fill-opacity=".3"/><path d="M20 68h80" stroke="currentColor" stroke-width="4" stroke-linecap="round"/>',
  Audio:
    '<path d="M34 52V44a26 26 0 0 1 52 0v8" fill="none" stroke="currentColor" stroke-width="6"/><rect x="28" y="46" width="14" height="22" rx="5"/><rect x="78" y="46" width="14" height="22" rx="5"/>',
  Books:
    '<rect x="30" y="54" width="60" height="12" rx="2"/><rect x="36" y="40" width="52" height="12" rx="2" fill-opacity=".75"/><rect x="32" y="26" width="56" height="12" rx="2"/>',
  'Toys & Games':
    '<rect x="38" y="18" width="44" height="44" rx="9"/><g fill="#000" fill-opacity=".35"><circle cx="50" cy="30" r="4"/><circle cx="60" cy="40" r="4"/><circle cx="70" cy="50" r="4"/></g>',
  Garden:
    '<path d="M60 44v26" stroke="currentColor" stroke-width="4"/><path d="M60 60c-10 0-16-6-16-12 8 0 16 4 16 12z"/><g><circle cx="60" cy="22" r="8"/><circle cx="71" cy="31" r="8"/><circle cx="49" cy="31" r="8"/><circle cx="66" cy="43" r="8"/><circle cx="54" cy="43" r="8"/></g><circle cx="60" cy="33" r="6" fill="#000" fill-opacity=".3"/>',
  Fitness:
    '<rect x="30" y="26" width="10" height="30" rx="3"/><rect x="80" y="26" width="10" height="30" rx="3"/><rect x="22" y="32" width="8" height="18" rx="3"/><rect x="90" y="32" width="8" height="18" rx="3"/><rect x="40" y="38" width="40" height="6"/>',
  'Home Decor':
    '<path d="M44 16h32l10 26H34z"/><path d="M60 42v20" stroke="currentColor" stroke-width="4"/><rect x="44" y="62" width="32" height="6" rx="3"/>',
  Stationery:
    '<path d="M30 62 36 46 78 14l8 10-42 32z"/><path d="M30 62l6-16 8 10z" fill="#000" fill-opacity=".35"/><path d="M30 70h60" stroke="currentColor" stroke-width="3" stroke-linecap="round"/>',
};

const FALLBACK = '<circle cx="60" cy="42" r="22"/>';

/** Inline SVG picture of a product of `category` (white glyph; the tile's CSS supplies the background). */
export function tileSvg(category: string): string {
  return `<svg viewBox="0 0 120 84" width="120" height="84" fill="currentColor" aria-hidden="true">${GLYPHS[category] ?? FALLBACK}</svg>`;
}
