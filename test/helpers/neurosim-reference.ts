/**
 * The published NeuroSim device model, written out here independently of mocks/ so that the physics
 * tests compare the emulator with the reference, not with itself.
 *
 * MLP_NeuroSim V3.0 (Chen, Peng & Yu, IEDM 2017; github.com/neurosim/MLP_NeuroSim_V3.0):
 * - formula.cpp NonlinearWeight(): G(x) = B·(1 − e^(−x/A)) + Gmin, x the pulse position in [0, Pmax];
 * - Cell.cpp RealDevice: B = (Gmax − Gmin)/(1 − e^(−Pmax/A)), A = getParamA(NL)·Pmax;
 * - formula.cpp getParamA(NL): the normalised A of the label, table documents/Nonlinearity-NormA.htm
 *   (labels 0.01 … 9 in steps of 0.01; negative labels give negative A). The values below are that
 *   table's entries for the labels our tests use.
 */

/** getParamA(NL) of MLP_NeuroSim V3.0 for the labels used in the tests (table entries, 6 digits). */
export const NEUROSIM_NORM_A: Readonly<Record<string, number>> = {
  "1": 1.251653,
  "2.4": 0.499181,
  "3.2": 0.35809,
  "4.88": 0.200303,
};

/** NeuroSim's A for a label and a pulse count (the sign of the label gives the sign of A). */
export function neurosimA(nl: number, pmax: number): number {
  const a = NEUROSIM_NORM_A[String(Math.abs(nl))];
  if (a === undefined) throw new Error(`no published A for NL ${nl} in the test table`);
  return Math.sign(nl) * a * pmax;
}

/** NeuroSim's conductance at pulse position x of a branch (Gmin at x = 0, Gmax at x = Pmax). */
export function neurosimG(x: number, o: { nl: number; pmax: number; gmin: number; gmax: number }): number {
  const A = neurosimA(o.nl, o.pmax);
  const B = (o.gmax - o.gmin) / (1 - Math.exp(-o.pmax / A));
  return B * (1 - Math.exp(-x / A)) + o.gmin;
}
