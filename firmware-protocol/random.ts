/**
 * Seeded randomness, the one module for both sides: the host's training (initialisation, shuffling)
 * and the emulated board's physics and link faults. It sits here, in the layer both may import, and
 * is no part of the protocol: a board's randomness never crosses the wire.
 *
 * - `Random`: xoroshiro128+ from pure-rand (uniforms, integers, permutations, a Gaussian);
 * - `FastRandom`: xoshiro128** for the emulator's per-device and per-read streams;
 * - `streamSeed`: independent streams of one board seed.
 */
import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";
import { xoroshiro128plus, xoroshiro128plusFromState } from "pure-rand/generator/xoroshiro128plus";

/** The state of a `Random`, as JSON can hold it (a checkpoint continues the sequence from it). */
export interface RandomState {
  /** The generator's four 32-bit state words. */
  generator: number[];
  /** The Gaussian kept for the next `normal()`, or null. */
  spare: number | null;
}

export class Random implements Rng {
  private rng;
  private spare = Number.NaN;

  constructor(seed: number) {
    this.rng = xoroshiro128plus(seed | 0);
  }

  /** Where the sequence is: `Random.fromState(r.state())` draws what `r` would draw next. */
  state(): RandomState {
    return { generator: [...this.rng.getState()], spare: Number.isNaN(this.spare) ? null : this.spare };
  }

  /** A generator that continues from a saved `state()`. */
  static fromState(s: RandomState): Random {
    const r = new Random(0);
    r.rng = xoroshiro128plusFromState(s.generator);
    r.spare = s.spare ?? Number.NaN;
    return r;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return uniformFloat64(this.rng);
  }

  /** Uniform integer in [0, n). */
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

  /** Standard normal (Box-Muller, the second value kept for the next call). */
  normal(): number {
    if (!Number.isNaN(this.spare)) {
      const s = this.spare;
      this.spare = Number.NaN;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

/**
 * Seed of an independent random stream `stream` (1, 2, …) of a board seeded with `seed`
 * (a splitmix32-style mix), so that switching one effect on does not shift another's numbers.
 */
export function streamSeed(seed: number, stream: number): number {
  let z = (seed ^ Math.imul(stream, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) | 0;
}

/** What the models need of a random source. */
export interface Rng {
  uniform(): number;
  normal(): number;
}

/**
 * A fast seeded generator (xoshiro128**, 32-bit state words, seeded by splitmix32) for the streams
 * that draw one number per device or per read (device-to-device spread at boot, read noise, stuck
 * devices): several times faster than `Random`, which keeps the pulse stream of the foundation.
 * Uniforms have 32-bit resolution and never return 0.
 */
export class FastRandom implements Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare = Number.NaN;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next() || 1;
  }

  private next32(): number {
    const r = Math.imul(((Math.imul(this.b, 5) << 7) | (Math.imul(this.b, 5) >>> 25)) >>> 0, 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = (this.d << 11) | (this.d >>> 21);
    return r;
  }

  /** Uniform in (0, 1). */
  uniform(): number {
    return (this.next32() + 0.5) * 2.3283064365386963e-10;
  }

  /** Standard normal (Box-Muller, the second value kept for the next call). */
  normal(): number {
    if (!Number.isNaN(this.spare)) {
      const s = this.spare;
      this.spare = Number.NaN;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    const th = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(th);
    return r * Math.cos(th);
  }
}
