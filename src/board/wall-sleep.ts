/**
 * Waits at least `seconds` of wall time as `performance.now()` counts it. A timer may fire a fraction
 * of a millisecond early by that clock (libuv rounds to whole milliseconds of its loop time), and a
 * board whose clock is the wall clock (the bench, the ArC ONE) must never report less time waited
 * than asked: retention intervals are measured with it.
 */
export async function sleepAtLeast(seconds: number): Promise<void> {
  const until = performance.now() + seconds * 1000;
  for (let left = until - performance.now(); left > 0; left = until - performance.now())
    await new Promise((r) => setTimeout(r, Math.ceil(left)));
}
