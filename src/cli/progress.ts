/** A progress bar on the terminal (stderr), and nothing at all when stderr is not a TTY. */
import cliProgress from "cli-progress";

export interface Progress {
  update(value: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

export function progressBar(total: number, label: string, enabled = Boolean(process.stderr.isTTY)): Progress {
  if (!enabled) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {value}/{total} | {status} | eta {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { status: "" });
  return {
    update: (value, payload) => bar.update(value, { status: "", ...payload }),
    stop: () => bar.stop(),
  };
}
