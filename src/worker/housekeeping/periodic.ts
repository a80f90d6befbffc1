/**
 * Runs `pass` after `firstDelayMs`, then `intervalMs` after each pass has finished, so passes
 * never overlap however slow they are. The timer is unref'd: a periodic job alone never keeps
 * the process alive. `pass` must not throw (log inside it). `stop` stops scheduling and waits
 * for a pass in progress; safe to call twice.
 */
export function startPeriodic(
  pass: () => Promise<void>,
  intervalMs: number,
  firstDelayMs: number = intervalMs,
): { stop(): Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const schedule = (delayMs: number): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      running = pass().finally(() => {
        running = undefined;
        schedule(intervalMs);
      });
    }, delayMs);
    timer.unref();
  };
  schedule(firstDelayMs);
  return {
    async stop(): Promise<void> {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}
