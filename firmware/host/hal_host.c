/*
 * The host HAL: xfw_hal.h over the simulated array of sim.c, a virtual clock, and a file descriptor
 * as the link. Ideal array (IDN effects=none): reads and VMMs see the device states; the arithmetic of
 * energy and time is that of the emulator's ideal path (mocks/board.ts readBlock, vmm, applyPulses).
 *
 * Time (PROTOCOL.md §5 Timing), as the emulator's `timescale`: at 0 (the default) every command is
 * answered at once. Above 0, pulse trains and WAITs take their board time times the timescale in wall
 * time (a train of n pulses of width w: select + n (w + settle), the profile IDN reports), applied in
 * slices of about a millisecond of wall time with a look at the link between two slices, so that an
 * ABORT stops them part-way. At 0 the link is looked at between trains once 5 ms of wall time have
 * passed since the last look (the emulator's slice), never within a train: the same train gives the
 * same physics as the emulator at timescale 0. With --trip, a pulse whose current |v| G would exceed
 * the compliance (CFG cc) is not applied and the command stops with 404 (the emulator's trip=1).
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../core/xfw.h"
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
int hal_link_in_fd = -1; /* where xfw_hal_link_read takes bytes from (-1: nowhere, as in the vector tests) */
double hal_timescale = 0;
int hal_trip = 0;
unsigned hal_dac_bits = 0, hal_adc_bits = 0; /* --dac, --adc: the 1.1 wire (0: float32 only) */

/* The board time of the profile above (.timing): device selection, and settling per pulse. */
#define SELECT_S 5e-6
#define SETTLE_S 2e-6
/* Wall time between two looks at the link: at timescale > 0, and at timescale 0 (the emulator's slice). */
#define SLICE_S 1e-3
#define SLICE0_S 5e-3

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The wall time the board's work so far runs until (timescale > 0), and when the link was last read. */
static double busy_until, last_look;

/* Starts paying for an operation's board time (its schedule starts now, or when the last one ends). */
static void schedule_start(void) {
  double now = wall_now();
  if (busy_until < now) busy_until = now;
}

/* Adds board time to the schedule and sleeps until it is paid once a millisecond or more is owed. */
static void owe(double board_s) {
  if (hal_timescale <= 0) return;
  busy_until += board_s * hal_timescale;
  double wait = busy_until - wall_now();
  if (wait < 1e-3) return;
  struct timespec ts = {(time_t)wait, (long)((wait - floor(wait)) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Looks at the link for an ABORT (xfw_poll_abort) if a slice of wall time has passed since the last look. */
static int abort_seen(void) {
  double now = wall_now();
  if (now - last_look < (hal_timescale > 0 ? 0 : SLICE0_S)) return 0;
  last_look = now;
  return xfw_poll_abort();
}

int hal_host_start(unsigned rows, unsigned cols, const char *device, int32_t seed) {
  const sim_preset *p = sim_preset_find(device);
  if (!p || sim_start(rows, cols, p, seed) != 0) return -1;
  snprintf(serial, sizeof serial, "XFW-%08x", (unsigned)seed);
  info.serial = serial;
  info.tech = p->name;
  info.rows = rows;
  info.cols = cols;
  info.gmax = p->gmax;
  info.dac_bits = hal_dac_bits;
  info.adc_bits = hal_adc_bits;
  clock_s = 0;
  return 0;
}

const xfw_info *xfw_hal_info(void) { return &info; }

/* Pulses per slice of wall time: the whole train at timescale 0. */
static unsigned slice_pulses(double w, unsigned n) {
  if (hal_timescale <= 0) return n;
  double k = floor(SLICE_S / (hal_timescale * (w + SETTLE_S)));
  return k < 1 ? 1 : k > n ? n : (unsigned)k;
}

/* Applies `k` pulses of a train to device i in one piece (one noise draw, as the emulator). */
static void apply_train(unsigned i, double v, double w, unsigned k, double *energy) {
  *energy += v * v * sim_g[i] * w * k;
  sim_pulse(i, v, k);
}

int xfw_hal_pulse(unsigned r, unsigned c, double v, double w, unsigned n, xfw_bias scheme, double cc,
                  double *energy, unsigned *applied) {
  (void)scheme; /* no half-select disturb in the ideal array */
  unsigned i = r * sim_cols + c, slice = slice_pulses(w, n), elapsed = 0;
  *applied = 0;
  if (xfw.run_applied == 0) last_look = wall_now(); /* the command's first train: its slice starts */
  schedule_start();
  owe(SELECT_S);
  /* The emulator's check (mocks/board.ts trips): the current at the present conductance. */
  if (hal_trip && fabs(v) * sim_g[i] > cc) return XFW_COMPLIANCE_TRIP;
  /* Time runs in slices; the physics is applied once, for the whole train or, on ABORT, for the
   * pulses that elapsed (mocks/job.ts): never cut where a slice ended. */
  while (elapsed < n) {
    if (elapsed > 0 && abort_seen()) {
      apply_train(i, v, w, elapsed, energy);
      *applied = elapsed;
      return XFW_ABORTED;
    }
    unsigned k = n - elapsed < slice ? n - elapsed : slice;
    elapsed += k;
    owe(k * (w + SETTLE_S));
  }
  apply_train(i, v, w, n, energy);
  *applied = n;
  abort_seen(); /* an ABORT that came during the train stops the command before its next one */
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
int xfw_hal_wait(double t) {
  if (hal_timescale <= 0) {
    clock_s += t; /* at once, as the emulator's WAIT at timescale 0 */
    return 0;
  }
  schedule_start();
  double left = t, slice = SLICE_S / hal_timescale;
  while (left > 0) {
    double s = left < slice ? left : slice;
    clock_s += s;
    left -= s;
    owe(s);
    if (left > 0 && xfw_poll_abort()) return XFW_ABORTED;
  }
  return 0;
}
void xfw_hal_clock_reset(void) { clock_s = 0; }

size_t xfw_hal_link_read(uint8_t *buf, size_t cap) {
  struct pollfd p = {.fd = hal_link_in_fd, .events = POLLIN};
  if (hal_link_in_fd < 0 || poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN)) return 0;
  ssize_t n = read(hal_link_in_fd, buf, cap);
  return n > 0 ? (size_t)n : 0; /* the end of the link shows in the main loop's next read */
}

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
