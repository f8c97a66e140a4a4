/** Seeded randomness for the host side (initialisation, shuffling): xoroshiro128+ from pure-rand. */
import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";

export class Random {
  private readonly rng;
  constructor(seed: number) {
    this.rng = xoroshiro128plus(seed | 0);
  }
  uniform(): number {
    return uniformFloat64(this.rng);
  }
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
  /** A random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Uint32Array {
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }
}
