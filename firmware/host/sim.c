/*
 * The simulated array of the host build: the NeuroSim-style model of the TypeScript emulator
 * (mocks/models/neurosim.ts) with its presets `linear` and `agsi` (mocks/devices.ts), and its
 * random source (xoroshiro128+ of pure-rand, firmware-protocol/random.ts). Conductances are doubles, one per
 * device, in a static array sized by XFW_MAX_ROWS x XFW_MAX_COLS.
 */
#include "sim.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "../core/xfw_config.h"

double sim_g[XFW_MAX_ROWS * XFW_MAX_COLS];
unsigned sim_rows, sim_cols;
const sim_preset *sim_dev;
static sim_branch ltp, ltd;
static double sigma;
static sim_rng rng;

void sim_rng_seed(sim_rng *r, int32_t seed) {
  r->s01 = 0xffffffffu;
  r->s00 = ~(uint32_t)seed;
  r->s11 = (uint32_t)seed;
  r->s10 = 0;
  r->has_spare = 0;
}

static uint32_t next32(sim_rng *r) {
  uint32_t out = r->s00 + r->s10;
  uint32_t a0 = r->s10 ^ r->s00, a1 = r->s11 ^ r->s01;
  uint32_t s00 = r->s00, s01 = r->s01;
  r->s00 = (s00 << 24) ^ (s01 >> 8) ^ a0 ^ (a0 << 16);
  r->s01 = (s01 << 24) ^ (s00 >> 8) ^ a1 ^ ((a1 << 16) | (a0 >> 16));
  r->s10 = (a1 << 5) ^ (a0 >> 27);
  r->s11 = (a0 << 5) ^ (a1 >> 27);
  return out;
}

double sim_rng_uniform(sim_rng *r) {
  uint32_t v1 = next32(r) & 67108863u;
  uint32_t v2 = next32(r) & 134217727u;
  return v1 * 1.4901161193847656e-8 + v2 * 1.1102230246251565e-16;
}

double sim_rng_normal(sim_rng *r) {
  if (r->has_spare) {
    r->has_spare = 0;
    return r->spare;
  }
  double u = 0;
  while (u == 0) u = sim_rng_uniform(r);
  double v = sim_rng_uniform(r);
  double m = sqrt(-2 * log(u));
  r->spare = m * sin(2 * 3.141592653589793 * v);
  r->has_spare = 1;
  return m * cos(2 * 3.141592653589793 * v);
}

/* `linear`: 1 uS .. 100 uS, 1000 levels each way, no noise, threshold 1 V, 2 V pulses (our choice).
 * `agsi`: the Ag:a-Si device of MLP_NeuroSim V3.0 (3.0769 nS .. 38.462 nS, 97 / 100 levels, NL +2.4 /
 * -4.88, 3.5 % cycle-to-cycle noise, 3.2 V / -2.8 V; the 1.5 V threshold is our choice). */
static const sim_preset PRESETS[] = {
    {"linear", 1e-6, 1e-4, 1000, 1000, 0, 0, 0, 1.0, 2.0, -2.0},
    {"agsi", 3.0769e-9, 38.462e-9, 97, 100, 2.4, -4.88, 0.035, 1.5, 3.2, -2.8},
};

const sim_preset *sim_preset_find(const char *name) {
  for (size_t i = 0; i < sizeof PRESETS / sizeof PRESETS[0]; i++)
    if (strcmp(PRESETS[i].name, name) == 0) return &PRESETS[i];
  return NULL;
}

const char *sim_preset_names(void) { return "linear, agsi"; }

/* NeuroSim's own mapping from the nonlinearity label NL to A/Pmax (getParamA() of MLP_NeuroSim V3.0,
 * its table Nonlinearity-NormA), as mocks/models/neurosim.ts has it: the table's values at these labels,
 * log A interpolated against log NL in between, A*NL constant below the first label. */
static const double NORM_A[][2] = {
    {0.1, 12.625807}, {0.25, 5.048012}, {0.5, 2.519877}, {0.75, 1.675322}, {1, 1.251653},
    {1.25, 0.996328}, {1.5, 0.825164},  {1.75, 0.702081}, {2, 0.609035},   {2.4, 0.499181},
    {2.5, 0.476965},  {3, 0.38683},     {3.5, 0.320556},  {4, 0.269089},   {4.5, 0.227383},
    {4.88, 0.200303}, {5, 0.192406},    {5.5, 0.162236},  {6, 0.135619},   {6.5, 0.11175},
    {7, 0.090139},
};

double sim_norm_a(double nl) {
  const size_t n = sizeof NORM_A / sizeof NORM_A[0];
  double a = fabs(nl);
  if (a <= NORM_A[0][0]) return (NORM_A[0][1] * NORM_A[0][0]) / a;
  for (size_t i = 1; i < n; i++) {
    double x0 = NORM_A[i - 1][0], y0 = NORM_A[i - 1][1], x1 = NORM_A[i][0], y1 = NORM_A[i][1];
    if (a == x1) return y1;
    if (a < x1 || i == n - 1) {
      double t = log(a / x0) / log(x1 / x0);
      return exp(log(y0) + t * log(y1 / y0));
    }
  }
  return NORM_A[n - 1][1];
}

sim_branch sim_branch_of(double levels, double nl, double range) {
  sim_branch br;
  if (fabs(nl) < 1e-6) {
    br.linear = 1;
    br.a = 0;
    br.b = range / levels;
    br.p = levels;
    return br;
  }
  double sign = nl > 0 ? 1 : nl < 0 ? -1 : 1;
  br.linear = 0;
  br.a = sign * levels * sim_norm_a(nl);
  br.b = range / (1 - exp(-levels / br.a));
  br.p = levels;
  return br;
}

static double to_x(const sim_branch *br, double g, double gmin) {
  if (br->linear) return (g - gmin) / br->b;
  double ratio = 1 - (g - gmin) / br->b;
  return -br->a * log(ratio > 1e-12 ? ratio : 1e-12);
}

static double from_x(const sim_branch *br, double x, double gmin) {
  if (br->linear) return gmin + br->b * x;
  return br->b * (1 - exp(-x / br->a)) + gmin;
}

int sim_start(unsigned rows, unsigned cols, const sim_preset *p, int32_t seed) {
  if (rows < 1 || cols < 1 || rows > XFW_MAX_ROWS || cols > XFW_MAX_COLS || !p) return -1;
  sim_rows = rows;
  sim_cols = cols;
  sim_dev = p;
  double range = p->gmax - p->gmin;
  ltp = sim_branch_of(p->levels_ltp, p->nl_ltp, range);
  ltd = sim_branch_of(p->levels_ltd, p->nl_ltd, range);
  sigma = p->c2c * 1;
  for (unsigned i = 0; i < rows * cols; i++) sim_g[i] = p->gmin;
  sim_rng_seed(&rng, seed);
  return 0;
}

/* Fraction of a full step that a pulse of |v| delivers (mocks/models/common.ts strength). */
static double strength(double v, double vth, double vnom) {
  double a = fabs(v);
  if (a < vth) return 0;
  if (a >= vnom) return 1;
  return (a - vth) / (vnom - vth);
}

void sim_pulse(unsigned i, double v, unsigned n) {
  const sim_preset *p = sim_dev;
  if (n == 0) return;
  int up = v > 0;
  double s = strength(v, p->vth, up ? p->vset : -p->vreset);
  if (s == 0) return;
  double k = s == 1 ? n : n * s;
  const sim_branch *br = up ? &ltp : &ltd;
  double x = to_x(br, sim_g[i], p->gmin);
  double target = up ? x + k : x - k;
  double x2 = fmin(fmax(target, 0), br->p);
  double g2 = from_x(br, x2, p->gmin);
  int saturated = target <= 0 || target >= br->p;
  if (sigma > 0 && !saturated) g2 += sim_rng_normal(&rng) * sigma * sqrt(k) * (p->gmax - p->gmin);
  sim_g[i] = fmin(fmax(g2, p->gmin), p->gmax);
}
