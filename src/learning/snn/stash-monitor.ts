/**
 * The stash monitor of the spiking network: per neuron, two rings of its last `window` responses,
 * to its own class and to the others (so that a silent neuron is not judged well trained because it
 * is right on the 90 % of images that are not its class). A neuron is trained when at least
 * `stashAt` of each ring, full, was right.
 */
interface Ring {
  ring: Uint8Array;
  n: number;
  right: number;
}

export class StashMonitor {
  private readonly history: Array<{ own: Ring; other: Ring }>;

  constructor(
    neurons: number,
    private readonly window: number,
    private readonly stashAt: number,
  ) {
    const ring = (): Ring => ({ ring: new Uint8Array(window), n: 0, right: 0 });
    this.history = Array.from({ length: neurons }, () => ({ own: ring(), other: ring() }));
  }

  /** Records neuron `j`'s response to an image of its own class or another, right or not. */
  record(j: number, ownClass: boolean, right: boolean): void {
    const h = this.history[j]!;
    const r = ownClass ? h.own : h.other;
    const ok = right ? 1 : 0;
    const slot = r.n % this.window;
    if (r.n >= this.window) r.right -= r.ring[slot]!;
    r.ring[slot] = ok;
    r.right += ok;
    r.n++;
  }

  /** Whether neuron `j` is well trained, on its own class and on the others. */
  trained(j: number): boolean {
    const h = this.history[j]!;
    return this.full(h.own) && this.full(h.other);
  }

  private full(r: Ring): boolean {
    return r.n >= this.window && r.right >= this.stashAt * this.window;
  }
}
