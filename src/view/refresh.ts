/**
 * The one thing the view may send to a board on its own: a map refresh (a whole-array read, then the
 * board's counters), so that the heat map shows what training did to devices the run never reads.
 * It is an explicit choice with a rate limit (`--view-refresh SECONDS`, 0 = never), triggered at
 * moments the run offers (the end of an epoch or step) or by the page's button, never more often than
 * the interval, never two at once; the page shows the policy and how many refreshes were made.
 * A refresh goes through the board's own request window like any command, between the run's commands.
 */
import { firstValueFrom } from "rxjs";
import type { BoardWatch } from "./board-watch.ts";
import type { ViewHub } from "./hub.ts";

export class MapRefresher {
  private last = 0;
  private running?: Promise<void>;
  private count = 0;
  private reads = 0;
  private failures = 0;

  constructor(
    private readonly hub: ViewHub,
    private readonly watches: () => BoardWatch[],
    /** Seconds between refreshes, at least; 0 disables them. */
    readonly interval: number,
  ) {
    this.publish("never yet");
  }

  /** Asks for a refresh; done only if the interval has passed and none is running. */
  request(reason: string): void {
    if (this.interval <= 0 || this.running) return;
    if (Date.now() - this.last < this.interval * 1000) return;
    this.running = this.refresh(reason).finally(() => {
      this.running = undefined;
    });
  }

  /** A refresh whatever the interval (the end of a run), after the one running if any. */
  async final(): Promise<void> {
    await this.running;
    if (this.interval > 0) await this.refresh("end of the run");
    else await this.countersOnly();
  }

  /** Waits for a refresh in flight. */
  async settle(): Promise<void> {
    await this.running;
  }

  private async refresh(reason: string): Promise<void> {
    this.last = Date.now();
    for (const w of this.watches()) {
      try {
        const m = await firstValueFrom(w.board.readAll());
        w.map(m, `refresh (${reason})`);
        this.reads += m.rows * m.cols;
        w.counters(await firstValueFrom(w.board.counters()));
      } catch {
        this.failures++; // the run ended or aborted the board meanwhile: the next refresh tries again
      }
    }
    this.count++;
    this.publish(reason);
  }

  /** With refreshes off, the run's end still reads the counters once (one STAT per board). */
  private async countersOnly(): Promise<void> {
    for (const w of this.watches()) {
      try {
        w.counters(await firstValueFrom(w.board.counters()));
      } catch {
        this.failures++;
      }
    }
  }

  private publish(lastReason: string): void {
    this.hub.set("refresh", {
      interval: this.interval,
      count: this.count,
      reads: this.reads,
      failures: this.failures,
      last: this.last,
      lastReason,
    });
  }
}
