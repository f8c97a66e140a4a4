/**
 * Device presets of the emulated board: each a published device (or our stated choice) with its
 * parameters, where they come from, and the model that runs it. State lives in the models' typed
 * arrays (one slot per device), never in an object per device. docs/devices.md shows each preset's
 * pulse-response curve, measured through the protocol (scripts/make-device-docs.mts).
 *
 * Sources (see also docs/research.md, "Device models"):
 * - MLP_NeuroSim V3.0 (Chen, Peng, Yu; Georgia Tech), its Ag:a-Si device table and nonlinear curve.
 * - IBM aihwkit (github.com/IBM/aihwkit): `simulator/configs/devices.py` (PulsedDevice, ConstantStep,
 *   LinearStep, SoftBounds, ExpStep, PowStep defaults), `simulator/presets/devices.py`
 *   (PCMPresetDevice, after Nandakumar et al., Front. Neurosci. 14:406, 2020) and
 *   `inference/noise/pcm.py` (PCMLikeNoiseModel: drift, read noise, g_max 25 µS, t0 20 s).
 * - Sung et al., Nat. Commun. 13 (2022): threshold switch on PCM (behavioural only).
 * - Everything marked "our choice" is ours, stated where it is used.
 */
import {
  AihwArray,
  type AihwKind,
  type AihwParams,
  EXP_DEFAULTS,
  PULSED_DEFAULTS,
} from "./models/aihwkit.ts";
import { type DeviceArray, type DeviceContext, rectifyingIv } from "./models/common.ts";
import { FlashArray, type FlashParams } from "./models/flash.ts";
import { LutArray, type PulseTable } from "./models/lut.ts";
import { NeuroSimArray, type NeuroSimParams } from "./models/neurosim.ts";
import { PcmArray, type PcmParams, type ThresholdSwitchParams, TsPcmArray } from "./models/pcm.ts";

export { normalisedA } from "./models/neurosim.ts";
export type { DeviceArray, DeviceContext };

export interface DevicePreset {
  /** Preset name, as reported by IDN tech=. */
  readonly name: string;
  /** One line for help texts. */
  readonly description: string;
  /** Where the numbers come from. */
  readonly source: string;
  /** Model family. */
  readonly model: "neurosim" | "aihwkit" | "pcm" | "ts-pcm" | "flash" | "lut";
  /** Nominal programming pulse: a full step (what the docs and host defaults use). */
  readonly vset: number;
  readonly vreset: number;
  readonly width: number;
  /** Nominal conductance bounds, S (0 for a table device: taken from its table). */
  readonly gmin: number;
  readonly gmax: number;
  /** The parameters the model runs with (shown in docs/devices.md). */
  readonly params: object;
  /** Builds the model for an array. */
  readonly build: (ctx: DeviceContext, table?: PulseTable) => DeviceArray;
}

const neurosim = (p: NeuroSimParams) => (ctx: DeviceContext) => new NeuroSimArray(p, ctx);

/**
 * `linear`: an ideal linear, high-dynamic-range device, the reference against which nonlinear devices
 * are compared (our choice: 1 µS … 100 µS, 1000 levels each way, no noise, threshold 1 V, 2 V pulses).
 */
const LINEAR: NeuroSimParams = {
  gmin: 1e-6,
  gmax: 1e-4,
  levelsLtp: 1000,
  levelsLtd: 1000,
  nlLtp: 0,
  nlLtd: 0,
  c2c: 0,
  d2dNl: 0,
  d2dRange: 0,
  vth: 1.0,
  vset: 2.0,
  vreset: -2.0,
  width: 1e-4,
};

/**
 * `agsi`: the Ag:a-Si device of MLP_NeuroSim V3.0 (docs/research.md): Gmax 38.462 nS, Gmin 3.0769 nS,
 * 97 LTP / 100 LTD levels, nonlinearity +2.4 / −4.88, cycle-to-cycle noise 3.5 % of the range,
 * write 3.2 V / −2.8 V, 300 µs. The 1.5 V threshold is our choice.
 */
const AGSI: NeuroSimParams = {
  gmin: 3.0769e-9,
  gmax: 38.462e-9,
  levelsLtp: 97,
  levelsLtd: 100,
  nlLtp: 2.4,
  nlLtd: -4.88,
  c2c: 0.035,
  d2dNl: 0,
  d2dRange: 0,
  vth: 1.5,
  vset: 3.2,
  vreset: -2.8,
  width: 3e-4,
};

/**
 * `agsi-d2d`: `agsi` with device-to-device spread, as NeuroSim models it: σ 0.5 on the NL labels and
 * 10 % on Gmin and Gmax (the spread values are our choice; NeuroSim leaves them to the user).
 */
const AGSI_D2D: NeuroSimParams = { ...AGSI, d2dNl: 0.5, d2dRange: 0.1 };

/**
 * `agsi-var`: `agsi` with device-to-device variation at the magnitudes of the literature, in
 * NeuroSim's form (per-device NL label, sigmaDtoD in MLP_NeuroSim V3.0 Cell.cpp; per-device Gmin and
 * Gmax, its conductanceRangeVar) plus a per-device number of levels: σ 30 % on the pulse count of each
 * branch and on Gmin and Gmax (Gokmen & Vlasov, Front. Neurosci. 10:333 (2016), Table 1: 30 %
 * device-to-device variation of the step and of the bounds; IBM aihwkit's defaults dw_min_dtod,
 * w_min_dtod and w_max_dtod = 0.3), σ 1 on the NL labels (our value; NeuroSim leaves it to the user).
 */
const AGSI_VAR: NeuroSimParams = { ...AGSI, d2dNl: 1, d2dRange: 0.3, d2dLevels: 0.3 };

/**
 * `srm`: a self-rectifying memristor (our choice of values, typical of published Schottky-barrier
 * SRMs): 10 nS … 1 µS at the 0.2 V read voltage, 100 levels each way, NL +1 / −1, 1 % C2C,
 * 1.5 V threshold, 3.2 V / −2.8 V pulses (as agsi);
 * forward I ∝ sinh(V/25 mV) below 0.2 V (I(0.2 V)/I(0.1 V) ≈ 55) and ohmic above; reverse current
 * 10⁵ times smaller. Rectification removes sneak paths in a passive array; the forward nonlinearity
 * reduces half-select leakage.
 */
const SRM: NeuroSimParams = {
  gmin: 1e-8,
  gmax: 1e-6,
  levelsLtp: 100,
  levelsLtd: 100,
  nlLtp: 1,
  nlLtd: -1,
  c2c: 0.01,
  d2dNl: 0,
  d2dRange: 0,
  vth: 1.5,
  vset: 3.2,
  vreset: -2.8,
  width: 1e-4,
  iv: rectifyingIv(0.2, 0.025, 1e5),
};

/** aihwkit pulsed devices: aihwkit's defaults, our weight → conductance map and pulse amplitudes. */
const aihw = (kind: AihwKind, extra: Partial<AihwParams> = {}): AihwParams => ({
  ...PULSED_DEFAULTS,
  kind,
  gmid: 50e-6,
  gscale: 40e-6,
  vth: 1.0,
  vset: 2.0,
  vreset: -2.0,
  width: 1e-6,
  ...extra,
});

const AIHW: Record<string, { params: AihwParams; what: string }> = {
  "aihw-constant": { params: aihw("constant"), what: "ConstantStepDevice" },
  // LinearStepDevice: gamma_up = gamma_down = 0, gamma_*_dtod = 0.05, mult_noise (its defaults).
  "aihw-linear": {
    params: aihw("linear", { gammaUp: 0, gammaDown: 0, gammaUpDtod: 0.05, gammaDownDtod: 0.05 }),
    what: "LinearStepDevice",
  },
  "aihw-softbounds": { params: aihw("softbounds"), what: "SoftBoundsDevice" },
  "aihw-exp": { params: aihw("exp", { exp: EXP_DEFAULTS }), what: "ExpStepDevice" },
  // PowStepDevice: pow_gamma 1, pow_gamma_dtod 0.1, pow_up_down 0, pow_up_down_dtod 0.
  "aihw-pow": {
    params: aihw("pow", { powGamma: 1, powGammaDtod: 0.1, powUpDown: 0, powUpDownDtod: 0 }),
    what: "PowStepDevice",
  },
};

/**
 * `pcm`: aihwkit's PCM statistics (models/pcm.ts): SET steps of PCMPresetDevice (Nandakumar et al.
 * 2020: dw_min 0.01, w_max 2 ± 10 %, ExpStep a −1, b 0, γ 2.5, A_up −27.235, A_down −2.235,
 * dw_min_dtod 0.2, up_down_dtod 0.05, dw_min_std 0.6, std_add 0.042, std_slope 0.108; reset 0.01 ± 0.02
 * d2d, reset_std 0.01); drift and read noise of PCMLikeNoiseModel (g_max 25 µS, t0 20 s, t_read 250 ns).
 * Pulse amplitudes are our choice: threshold 1 V, full SET at 2 V, full RESET at −2.5 V (partial in
 * between), 1 µs.
 */
const PCM: PcmParams = {
  gmax: 25e-6,
  pulsed: {
    dwMin: 0.01,
    dwMinDtod: 0.2,
    dwMinStd: 0.6,
    upDown: 0,
    upDownDtod: 0.05,
    wMax: 2,
    wMaxDtod: 0.1,
    wMin: 0,
    wMinDtod: 0,
  },
  exp: {
    aUp: -27.235,
    aDown: -2.235,
    gammaUp: 2.5,
    gammaDown: 2.5,
    a: -1,
    b: 0,
    dwMinStdAdd: 0.042,
    dwMinStdSlope: 0.108,
  },
  reset: 0.01,
  resetDtod: 0.02,
  resetStd: 0.01,
  t0: 20,
  nuMu: [-0.0155, 0.0244, 0.049, 0.1],
  nuSigma: [-0.0125, -0.0059, 0.008, 0.045],
  q: 0.0088,
  qExp: 0.65,
  qMax: 0.2,
  tRead: 250e-9,
  vth: 1.0,
  vset: 2.0,
  vresetFull: 2.5,
  width: 1e-6,
};

/**
 * `pcm-nu0`, `pcm-nu-half`, `pcm-nu-double`: the `pcm` device with its drift exponent ν (mean and
 * spread, clip limits included) scaled by 0, ½ and 2, for experiments on drift (our variants; 0 = no
 * drift at all, every other property and every random draw as `pcm`).
 */
const PCM_NU: Array<[name: string, scale: number]> = [
  ["pcm-nu0", 0],
  ["pcm-nu-half", 0.5],
  ["pcm-nu-double", 2],
];
const pcmNu = (k: number): PcmParams => ({
  ...PCM,
  nuMu: PCM.nuMu.map((x) => x * k) as unknown as PcmParams["nuMu"],
  nuSigma: PCM.nuSigma.map((x) => x * k) as unknown as PcmParams["nuSigma"],
});

/**
 * `ts-pcm`: threshold switch on the `pcm` device (our behavioural choice after Sung et al. 2022):
 * switch threshold 1.2 V, hold 0.6 V, relaxation capacitance 1 nF, 1 µs on-time per firing, each
 * firing a SET of 0.1 of a nominal pulse.
 */
const TS: ThresholdSwitchParams = { vth: 1.2, vhold: 0.6, capacitance: 1e-9, tOn: 1e-6, setPerFiring: 0.1 };

/**
 * `ctf`: charge-trap / TFT analog flash (our choice of values): 0.1 µS … 10 µS, τ 10 µs (log-normal
 * 20 % device to device), Gmax after 10 ms of effective programming, programming threshold 2 V,
 * nominal 3.2 V, ×e per 0.3 V, 10 % log-normal C2C; a negative pulse of 2 V or more erases the
 * 8-row block.
 */
const CTF: FlashParams = {
  gmin: 1e-7,
  gmax: 1e-5,
  tau: 1e-5,
  tfull: 1e-2,
  vth: 2.0,
  vprog: 3.2,
  vslope: 0.3,
  verase: 2.0,
  blockRows: 8,
  c2c: 0.1,
  d2dTau: 0.2,
  width: 1e-4,
};

const ns = (name: string, description: string, source: string, p: NeuroSimParams): DevicePreset => ({
  name,
  description,
  source,
  model: "neurosim",
  vset: p.vset,
  vreset: p.vreset,
  width: p.width,
  gmin: p.gmin,
  gmax: p.gmax,
  params: {
    ...p,
    iv: p.iv ? "self-rectifying: sinh(V/0.025 V) forward below 0.2 V, reverse / 1e5" : "ohmic",
  },
  build: neurosim(p),
});

const presets: DevicePreset[] = [
  ns(
    "linear",
    "ideal linear high-dynamic-range device: 1-100 uS, 1000 levels, no noise (our choice)",
    "our choice: the ideal reference device",
    LINEAR,
  ),
  ns(
    "agsi",
    "Ag:a-Si, MLP_NeuroSim V3.0: 3.08-38.5 nS, 97/100 levels, NL +2.4/-4.88, 3.5% C2C",
    "MLP_NeuroSim V3.0 Ag:a-Si device (docs/research.md)",
    AGSI,
  ),
  ns(
    "agsi-d2d",
    "agsi with device-to-device spread: NL sigma 0.5, Gmin/Gmax sigma 10% (spread: our choice)",
    "MLP_NeuroSim V3.0 Ag:a-Si device; spread values our choice",
    AGSI_D2D,
  ),
  ns(
    "agsi-var",
    "agsi with literature-scale device-to-device variation: levels and Gmin/Gmax sigma 30%, NL sigma 1",
    "MLP_NeuroSim V3.0 Ag:a-Si device; 30% after Gokmen & Vlasov 2016 and aihwkit dtod defaults",
    AGSI_VAR,
  ),
  ...Object.entries(AIHW).map(
    ([name, { params, what }]): DevicePreset => ({
      name,
      description: `IBM aihwkit ${what} with its default parameters; G = 50 uS + 40 uS * w`,
      source: `IBM aihwkit ${what} defaults (simulator/configs/devices.py); conductance map our choice`,
      model: "aihwkit",
      vset: params.vset,
      vreset: params.vreset,
      width: params.width,
      gmin: params.gmid + params.gscale * params.wMin,
      gmax: params.gmid + params.gscale * params.wMax,
      params,
      build: (ctx) => new AihwArray(params, ctx),
    }),
  ),
  {
    name: "pcm",
    description:
      "phase-change memory, aihwkit statistics: 0-25 uS, gradual SET, abrupt RESET, drift, 1/f read noise",
    source:
      "IBM aihwkit PCMPresetDevice (Nandakumar et al. 2020) and PCMLikeNoiseModel; amplitudes our choice",
    model: "pcm",
    vset: PCM.vset,
    vreset: -PCM.vresetFull,
    width: PCM.width,
    gmin: 0,
    gmax: PCM.gmax,
    params: PCM,
    build: (ctx) => new PcmArray(PCM, ctx),
  },
  ...PCM_NU.map(([name, k]): DevicePreset => {
    const params = pcmNu(k);
    return {
      name,
      description: `pcm with its drift exponent nu scaled by ${k} (${k === 0 ? "no drift" : "drift variant"}; our variant)`,
      source: "IBM aihwkit PCM statistics as pcm; nu scaled (our variant for drift experiments)",
      model: "pcm",
      vset: params.vset,
      vreset: -params.vresetFull,
      width: params.width,
      gmin: 0,
      gmax: params.gmax,
      params,
      build: (ctx) => new PcmArray(params, ctx),
    };
  }),
  {
    name: "ts-pcm",
    description: "threshold switch on pcm (neuron + synapse): fires above 1.2 V at a rate set by G (FIRE)",
    source:
      "behavioural, after Sung et al., Nat. Commun. 13 (2022); PCM part as pcm; switch values our choice",
    model: "ts-pcm",
    vset: PCM.vset,
    vreset: -PCM.vresetFull,
    width: PCM.width,
    gmin: 0,
    gmax: PCM.gmax,
    params: { ...PCM, thresholdSwitch: TS },
    build: (ctx) => new TsPcmArray(PCM, TS, ctx),
  },
  ns(
    "srm",
    "self-rectifying memristor: 10 nS-1 uS at 0.2 V, rectification 1e5, I(V)/I(V/2) 55 (our choice)",
    "our choice of values, typical of published self-rectifying memristors",
    SRM,
  ),
  {
    name: "ctf",
    description: "charge-trap/TFT analog flash: 0.1-10 uS, log-time program (one way), 8-row block erase",
    source:
      "our choice of form (logarithmic charge trapping, Fowler-Nordheim amplitude dependence) and values",
    model: "flash",
    vset: CTF.vprog,
    vreset: -CTF.verase,
    width: CTF.width,
    gmin: CTF.gmin,
    gmax: CTF.gmax,
    params: CTF,
    build: (ctx) => new FlashArray(CTF, ctx),
  },
  {
    name: "lut",
    description: "lookup table from a measured pulse-response CSV (xbar characterize --out): needs lut=FILE",
    source: "your own measurements",
    model: "lut",
    vset: 3.2,
    vreset: -2.8,
    width: 3e-4,
    gmin: 0,
    gmax: 0,
    params: {},
    build: (ctx, table) => {
      if (!table) throw new RangeError('device "lut" needs a pulse-response table (lut=FILE)');
      return new LutArray(table, ctx);
    },
  },
];

export const DEVICE_PRESETS: Record<string, DevicePreset> = Object.fromEntries(
  presets.map((p) => [p.name, p]),
);

export function deviceNames(): string[] {
  return Object.keys(DEVICE_PRESETS);
}
