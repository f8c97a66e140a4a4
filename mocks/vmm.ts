/**
 * Vector-matrix multiplies on the array (VMM and VMMT, PROTOCOL.md §6): the ideal fast path and the
 * path through the array effects (I–V shape, read noise, IR drop on the lines, ADC, sneak energy).
 */
import type { ArrayModel } from "./array.ts";

/**
 * Forward (or transposed) vector-matrix multiply of `k` input vectors over a block: the outputs, with
 * the VMM counter, the energy account and the clock advanced.
 */
export function vmm(
  m: ArrayModel,
  r0: number,
  c0: number,
  nr: number,
  nc: number,
  x: Float32Array,
  k: number,
  transposed: boolean,
): Float32Array {
  const nin = transposed ? nc : nr;
  const nout = transposed ? nr : nc;
  const y = new Float32Array(k * nout);
  const cols = m.cols;
  const g = m.devices.at(m.clock);
  const tread = m.config.tread;
  let energy = 0;
  const acc = new Float64Array(nout);
  if (!m.plain) {
    energy = vmmEffects(m, g, r0, c0, nr, nc, x, k, transposed, y);
  } else {
    for (let s = 0; s < k; s++) {
      acc.fill(0);
      const xo = s * nin;
      for (let i = 0; i < nr; i++) {
        const base = (r0 + i) * cols + c0;
        if (!transposed) {
          const xi = x[xo + i]!;
          if (xi === 0) continue;
          const x2 = xi * xi;
          for (let j = 0; j < nc; j++) {
            const gij = g[base + j]!;
            acc[j]! += xi * gij;
            energy += x2 * gij;
          }
        } else {
          let sum = 0;
          for (let j = 0; j < nc; j++) {
            const xj = x[xo + j]!;
            const gij = g[base + j]!;
            sum += xj * gij;
            energy += xj * xj * gij;
          }
          acc[i] = sum;
        }
      }
      y.set(acc, s * nout);
    }
  }
  m.counters.vmms += k;
  m.counters.energy += energy * tread;
  m.clock += k * tread;
  return y;
}

/**
 * VMM through the array effects. Every line is held (inputs on the block's rows — columns for
 * VMMT —, outputs at virtual ground, all other lines grounded), so there are no sneak paths; the
 * cell sees its input voltage (−x for VMMT: a rectifying cell conducts VMMT inputs in reverse).
 * Effects: the I–V shape, read noise (each cell's current, summed as Gaussians), first-order IR
 * drop on the lines (wire), the ADC, and with a passive array (sneak) the energy of the cells on
 * the driven lines outside the block. Returns the power summed over the vectors (W).
 */
function vmmEffects(
  m: ArrayModel,
  G: Float64Array,
  r0: number,
  c0: number,
  nr: number,
  nc: number,
  x: Float32Array,
  k: number,
  transposed: boolean,
  y: Float32Array,
): number {
  const e = m.effects;
  const cols = m.cols;
  const iv = m.devices.iv;
  const sig = m.devices.readNoise(m.clock);
  const rn2 = e.readNoise * e.readNoise;
  const noisy = sig !== null || rn2 > 0;
  const nin = transposed ? nc : nr;
  const nout = transposed ? nr : nc;
  const acc = new Float64Array(nout);
  const vars = noisy ? new Float64Array(nout) : null;
  const cur = e.wire > 0 ? new Float64Array(nr * nc) : null;
  const hin = new Float64Array(nin);
  const s = e.sneak ? m.sums(G) : null;
  let power = 0;
  for (let t = 0; t < k; t++) {
    acc.fill(0);
    vars?.fill(0);
    const xo = t * nin;
    for (let m = 0; m < nin; m++) {
      const xm = x[xo + m]!;
      hin[m] = iv ? iv.h(transposed ? -xm : xm) : 1;
    }
    for (let i = 0; i < nr; i++) {
      const base = (r0 + i) * cols + c0;
      for (let j = 0; j < nc; j++) {
        const m = transposed ? j : i;
        const xm = x[xo + m]!;
        if (xm === 0) continue;
        const gij = G[base + j]!;
        const I = xm * gij * hin[m]!;
        power += xm * I;
        const o = transposed ? i : j;
        acc[o]! += I;
        if (cur) cur[i * nc + j] = I;
        if (vars) {
          const sd = (sig ? sig[base + j]! * sig[base + j]! : 0) + rn2;
          vars[o]! += I * I * sd;
        }
      }
    }
    if (cur) irDrop(m, G, r0, c0, nr, nc, x, xo, hin, transposed, cur, acc);
    if (s) {
      // Cells on the driven lines outside the block are biased too (their other ends grounded).
      for (let m = 0; m < nin; m++) {
        const xm = x[xo + m]!;
        if (xm === 0) continue;
        let inBlock = 0;
        let line = 0;
        if (!transposed) {
          const base = (r0 + m) * cols + c0;
          for (let j = 0; j < nc; j++) inBlock += G[base + j]!;
          line = s.row[r0 + m]!;
        } else {
          for (let i = 0; i < nr; i++) inBlock += G[(r0 + i) * cols + c0 + m]!;
          line = s.col[c0 + m]!;
        }
        power += xm * xm * hin[m]! * (line - inBlock);
      }
    }
    for (let o = 0; o < nout; o++) {
      let out = acc[o]!;
      if (vars && vars[o]! > 0) out += Math.sqrt(vars[o]!) * m.readRng.normal();
      y[t * nout + o] = m.adc(out);
    }
  }
  return power;
}

/**
 * First-order IR drop (wire): with the ideal cell currents `cur`, the voltage a cell loses on its
 * two lines is the line resistance times the current through each segment between the cell and the
 * line's end (row ends at column 0, column ends below the last row; segments outside the block carry
 * the block's whole line current). The outputs are recomputed with those reduced cell voltages.
 */
function irDrop(
  m: ArrayModel,
  G: Float64Array,
  r0: number,
  c0: number,
  nr: number,
  nc: number,
  x: Float32Array,
  xo: number,
  hin: Float64Array,
  transposed: boolean,
  cur: Float64Array,
  acc: Float64Array,
): void {
  const rw = m.effects.wire;
  const cols = m.cols;
  const dRow = new Float64Array(nr * nc);
  // Rows: segment into column j carries the current of cells j.. of the row.
  for (let i = 0; i < nr; i++) {
    let total = 0;
    for (let j = 0; j < nc; j++) total += cur[i * nc + j]!;
    let drop = rw * (c0 + 1) * total;
    let right = total;
    for (let j = 0; j < nc; j++) {
      if (j > 0) {
        right -= cur[i * nc + j - 1]!;
        drop += rw * right;
      }
      dRow[i * nc + j] = drop;
    }
  }
  acc.fill(0);
  for (let j = 0; j < nc; j++) {
    let total = 0;
    for (let i = 0; i < nr; i++) total += cur[i * nc + j]!;
    // Columns: the segment below row i carries the current of cells 0..i of the column.
    let drop = rw * (m.rows - (r0 + nr - 1)) * total;
    let above = total;
    for (let i = nr - 1; i >= 0; i--) {
      if (i < nr - 1) {
        above -= cur[(i + 1) * nc + j]!;
        drop += rw * above;
      }
      const m = transposed ? j : i;
      const xm = x[xo + m]!;
      if (xm === 0) continue;
      const veff = xm - Math.sign(xm) * (dRow[i * nc + j]! + drop);
      const I = (Math.sign(veff) === Math.sign(xm) ? veff : 0) * G[(r0 + i) * cols + c0 + j]! * hin[m]!;
      acc[transposed ? i : j]! += I;
    }
  }
}
