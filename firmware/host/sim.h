/* The simulated array behind the host HAL: device models of the TypeScript emulator (mocks/), seeded. */
#ifndef XFW_SIM_H
#define XFW_SIM_H

#include <stdint.h>

/* xoroshiro128+ as pure-rand 8 (the emulator's Random, firmware-protocol/random.ts), with its uniformFloat64 and
 * Box-Muller normals: the same seed gives the same numbers. */
typedef struct {
  uint32_t s01, s00, s11, s10;
  double spare;
  int has_spare;
} sim_rng;

void sim_rng_seed(sim_rng *r, int32_t seed);
double sim_rng_uniform(sim_rng *r);
double sim_rng_normal(sim_rng *r);

/* A NeuroSim-style device preset (mocks/models/neurosim.ts, mocks/devices.ts). */
typedef struct {
  const char *name;
  double gmin, gmax;
  double levels_ltp, levels_ltd, nl_ltp, nl_ltd, c2c;
  double vth, vset, vreset;
} sim_preset;

/* One branch of the curve G(x) = B(1 - e^(-x/A)) + Gmin, x in [0, P]. */
typedef struct {
  int linear;
  double a, b, p;
} sim_branch;

const sim_preset *sim_preset_find(const char *name);
/* Comma-separated names of the presets, for messages. */
const char *sim_preset_names(void);
double sim_norm_a(double nl);
sim_branch sim_branch_of(double levels, double nl, double range);

/* Starts the simulation: rows x cols devices of `preset` at Gmin, randomness seeded with `seed`. */
int sim_start(unsigned rows, unsigned cols, const sim_preset *preset, int32_t seed);
/* n pulses of v on device i (NeuroSimArray.pulse). */
void sim_pulse(unsigned i, double v, unsigned n);

#endif
