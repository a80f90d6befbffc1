/**
 * A one-line progress bar on stderr, drawn only on a TTY (pipes and CI logs get nothing, so
 * stdout stays clean for `--json` and redirects).
 */
export class ProgressBar {
  private readonly enabled: boolean;
  private lastDraw = 0;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.enabled = stream.isTTY === true && total > 1;
  }

  update(done: number, note = ''): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (done < this.total && now - this.lastDraw < 80) return;
    this.lastDraw = now;
    const width = 30;
    const filled = Math.round((done / this.total) * width);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
    this.stream.write(`\r${this.label} [${bar}] ${done}/${this.total} ${note}`.padEnd(80));
  }

  /** Blanks the bar's line, so that a message can be printed on it (the next update redraws). */
  clear(): void {
    if (this.enabled) this.stream.write(`\r${' '.repeat(80)}\r`);
  }

  done(): void {
    if (this.enabled) this.stream.write('\n');
  }
}
