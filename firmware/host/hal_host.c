/*
 * The host HAL: xfw_hal.h over the simulated array of sim.c, a virtual clock, and a file descriptor
 * as the link. Ideal array (IDN effects=none): reads and VMMs see the device states; the arithmetic of
 * energy and time is that of the emulator's ideal path (mocks/board.ts readBlock, vmm, applyPulses).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../core/xfw_hal.h"
#include "sim.h"

extern double sim_g[];
extern unsigned sim_rows, sim_cols;
extern const sim_preset *sim_dev;

static xfw_info info = {
    .vendor = "xbar",
    .model = "XFW-HOST",
    .effects = "none",
    /* The emulator's default board profile (mocks/timing.ts): the host build answers at once, as the
     * emulator at timescale 0, but says what a board like it would take. */
    .timing = "command:0.00002,byte:1e-7,select:0.000005,settle:0.000002,adc:0.000001,dac:0.00001",
    .hard = {.vmax = 5, .wmin = 1e-8, .wmax = 1e-2, .nmax = 10000, .plmax = 65536, .vrmax = 1, .ccmax = 1e-3,
             .emax = 1},
    .has_fire = 0,
};
static char serial[24];
static double clock_s;
int hal_link_fd = 1;

int hal_host_start(unsigned rows, unsigned cols, const char *device, int32_t seed) {
  const sim_preset *p = sim_preset_find(device);
  if (!p || sim_start(rows, cols, p, seed) != 0) return -1;
  snprintf(serial, sizeof serial, "XFW-%08x", (unsigned)seed);
  info.serial = serial;
  info.tech = p->name;
  info.rows = rows;
  info.cols = cols;
  info.gmax = p->gmax;
  clock_s = 0;
  return 0;
}

const xfw_info *xfw_hal_info(void) { return &info; }

int xfw_hal_pulse(unsigned r, unsigned c, double v, double w, unsigned n, xfw_bias scheme, double *energy) {
  (void)scheme; /* no half-select disturb in the ideal array */
  unsigned i = r * sim_cols + c;
  *energy += v * v * sim_g[i] * w * n;
  sim_pulse(i, v, n);
  return 0;
}

void xfw_hal_read_row(unsigned r, unsigned c0, unsigned nc, double vread, double tread, xfw_bias scheme,
                      double *g) {
  (void)vread, (void)tread, (void)scheme;
  for (unsigned j = 0; j < nc; j++) g[j] = sim_g[r * sim_cols + c0 + j];
}

void xfw_hal_vmm(unsigned r0, unsigned c0, unsigned nr, unsigned nc, const float *x, int transposed,
                 double *out, double *power) {
  unsigned nout = transposed ? nr : nc;
  for (unsigned o = 0; o < nout; o++) out[o] = 0;
  for (unsigned i = 0; i < nr; i++) {
    const double *row = &sim_g[(r0 + i) * sim_cols + c0];
    if (!transposed) {
      double xi = x[i];
      if (xi == 0) continue;
      double x2 = xi * xi;
      for (unsigned j = 0; j < nc; j++) {
        out[j] += xi * row[j];
        *power += x2 * row[j];
      }
    } else {
      double sum = 0;
      for (unsigned j = 0; j < nc; j++) {
        double xj = x[j];
        sum += xj * row[j];
        *power += xj * xj * row[j];
      }
      out[i] = sum;
    }
  }
}

uint32_t xfw_hal_fire(unsigned r, unsigned c, double v, double start, double t, double *energy) {
  (void)r, (void)c, (void)v, (void)start, (void)t, (void)energy;
  return 0; /* never called: has_fire = 0 */
}

double xfw_hal_fire_bound(double v, double t) {
  (void)v, (void)t;
  return 0;
}

void xfw_hal_idle(void) {}

double xfw_hal_clock(void) { return clock_s; }
void xfw_hal_elapse(double dt) { clock_s += dt; }
void xfw_hal_wait(double t) { clock_s += t; }
void xfw_hal_clock_reset(void) { clock_s = 0; }

void xfw_hal_link_write(const uint8_t *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(hal_link_fd, data, len);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      exit(0); /* the link went away: nothing runs between commands, the array is idle */
    }
    data += n;
    len -= (size_t)n;
  }
}
