/**
 * A plain-ANSI progress bar on stderr: label, bar, step counts, the latest metric and an ETA. When the
 * stream is not a terminal it stays quiet except for one line per reported point.
 */

/** Where progress goes (process.stderr, or a fake in tests). */
export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Formats seconds as 1h02m, 3m05s or 12s. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** One progress bar for a task of `total` units. */
export class Progress {
  private readonly start = performance.now();
  private lastDraw = 0;
  private metric = '';
  private done = 0;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: ProgressStream = process.stderr,
    private readonly unit = 'round',
  ) {}

  /** Seconds since the bar started. */
  elapsed(): number {
    return (performance.now() - this.start) / 1000;
  }

  /** Moves the bar to `done` units (fractional allowed); redraws at most ten times a second. */
  update(done: number): void {
    this.done = done;
    const now = performance.now();
    if (this.stream.isTTY && now - this.lastDraw > 100) {
      this.lastDraw = now;
      this.draw();
    }
  }

  /** Records a metric value at an evaluation point; prints one line when not on a terminal. */
  point(text: string): void {
    this.metric = text;
    if (this.stream.isTTY) this.draw();
    else
      this.stream.write(
        `${this.label}: ${this.unit} ${Math.floor(this.done)}/${this.total} ${text} (${formatDuration(this.elapsed())})\n`,
      );
  }

  /** Ends the bar with a final line. */
  finish(text: string): void {
    if (this.stream.isTTY) this.stream.write('\r\x1b[2K');
    this.stream.write(`${this.label}: ${text} (${formatDuration(this.elapsed())})\n`);
  }

  private draw(): void {
    const frac = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const eta = frac > 0 ? (this.elapsed() * (1 - frac)) / frac : NaN;
    const width = 24;
    const full = Math.round(frac * width);
    const bar = '\x1b[32m' + '█'.repeat(full) + '\x1b[0m' + '░'.repeat(width - full);
    const steps = `${this.unit} ${Math.floor(this.done)}/${this.total}`;
    let line = `${this.label} ${bar} ${steps}  ${this.metric}  ETA ${formatDuration(eta)}`;
    const cols = this.stream.columns ?? 120;
    // Keep to one terminal line so \r redraws in place (ANSI codes are not visible width).
    if (line.length - 13 > cols) line = line.slice(0, cols + 12);
    this.stream.write('\r\x1b[2K' + line);
  }
}
