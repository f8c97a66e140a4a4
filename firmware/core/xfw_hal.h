/*
 * The hardware abstraction layer (HAL): the contract a lab implements for its crossbar test board.
 *
 * The core (protocol, replay window, safety envelope, counters) calls these functions and nothing
 * else of the hardware. It validates every request against the envelope BEFORE calling any of them,
 * so a HAL function is only ever asked to do something inside the board's hard limits (reported by
 * xfw_hal_info) narrowed by the session's CFG. A HAL never talks the protocol.
 *
 * Rules every implementation keeps (they are what the conformance suite checks from outside):
 *  1. Every call returns with the array IDLE: all lines grounded (xfw_hal_idle()).
 *  2. Pulses are applied exactly as asked: n pulses of amplitude v (V, signed: > 0 potentiates/SETs)
 *     and width w (s) on one device, the unselected lines biased as `scheme` says.
 *  3. Reads return a conductance in siemens: the sensed current divided by the read voltage.
 *  4. Energy: functions given an `energy` pointer ADD the joules they spent to *energy (the board's own
 *     account, PROTOCOL.md §6 "Energy"): v^2 * G * w per pulse (G before the pulse), x^2 * G per cell
 *     and VMM vector as power (the core multiplies by tread). A board that cannot measure it estimates.
 *  5. Time: xfw_hal_clock() is seconds since boot. xfw_hal_elapse(dt) tells the HAL that the operation
 *     just performed nominally took dt seconds: a real board ignores it (its clock runs by itself), a
 *     simulated one advances its virtual clock. xfw_hal_wait(t) waits t seconds (a simulation advances).
 *  6. Link: xfw_hal_link_write() sends bytes to the host (blocking until queued). Receiving is the
 *     caller's business: the main loop of a build feeds received bytes to xfw_feed() (xfw.h); while a
 *     command runs, the core takes what arrived meanwhile with xfw_hal_link_read() (never waiting).
 *
 * Compare the Board interface of the TypeScript stack (src/board/board.ts): the same operations, one
 * level lower (one device, one row segment, one VMM block) and without any protocol.
 */
#ifndef XFW_HAL_H
#define XFW_HAL_H

#include <stddef.h>
#include <stdint.h>

/* Biasing of the unselected lines (CFG scheme=). */
typedef enum { XFW_BIAS_V2 = 0, XFW_BIAS_V3 = 1, XFW_BIAS_FLOAT = 2 } xfw_bias;

/* The board's hard limits (LIM before CFG narrows them; never change). */
typedef struct {
  double vmax, wmin, wmax, nmax, plmax, vrmax, ccmax, emax;
} xfw_limits;

/* Identity and capabilities, constant while the board runs. Strings are tokens (no spaces). */
typedef struct {
  const char *vendor, *model, *serial, *tech;
  const char *effects;   /* IDN effects=: "none", or e.g. "sneak" for a passive array */
  const char *timing;    /* IDN timing= (1.1): the board's durations, command:S,byte:S,select:S,settle:S,adc:S,dac:S */
  unsigned rows, cols;   /* at most XFW_MAX_ROWS x XFW_MAX_COLS */
  double gmax;           /* conductance (S) bounding a pulse's energy: v^2 * gmax * w (LIM gmax=) */
  xfw_limits hard;
  int has_fire;          /* threshold-switch cells: FIRE is supported (xfw_hal_fire) */
  /* Bits of the input DAC and of the sensing ADC, 1..16 (IDN dac= adc=, protocol 1.1), or 0 and 0 for a
   * board that asks for float32 on the wire: one that reports them is sent quantised arrays, answers
   * q=1 with quantised replies and holds VMM inputs for OPU x=last (PROTOCOL.md §6, "The 1.1 wire"). */
  unsigned dac_bits, adc_bits;
} xfw_info;

const xfw_info *xfw_hal_info(void);

/* n pulses of v (V), w (s) on device (r, c); *applied receives how many were applied. Between two
 * pulses, and after the last, the HAL calls xfw_poll_abort() (xfw.h) as often as it wants ABORT to be
 * seen (a real board: between every two pulses); when it returns 1 before the last pulse, the HAL stops
 * there and returns 401 (XFW_ABORTED). A HAL that senses the device's current may also stop before a
 * pulse that would drive more than `cc` (A, the session's compliance) and return 404
 * (XFW_COMPLIANCE_TRIP, PROTOCOL.md §5: optional). Otherwise returns 0, or another wire error code
 * (e.g. 500) if the hardware failed. The array is idle in every case. Adds the energy spent to *energy. */
int xfw_hal_pulse(unsigned r, unsigned c, double v, double w, unsigned n, xfw_bias scheme, double cc,
                  double *energy, unsigned *applied);

/* Reads nc devices of row r from column c0, one by one, at vread (V) integrating tread (s): g[j] in
 * siemens. Covers a device (nc = 1), a row, a column and a block (the core calls it row by row). */
void xfw_hal_read_row(unsigned r, unsigned c0, unsigned nc, double vread, double tread, xfw_bias scheme,
                      double *g);

/* One vector-matrix multiply on block (r0, c0, nr, nc): x holds nr voltages on the rows (transposed:
 * nc voltages on the columns); out receives the nc column currents (transposed: nr row currents), A.
 * Adds the power drawn, sum x^2 * G over the driven cells (W), to *power. */
void xfw_hal_vmm(unsigned r0, unsigned c0, unsigned nr, unsigned nc, const float *x, int transposed,
                 double *out, double *power);

/* Threshold-switch cells only (info.has_fire): biases device (r, c) at v for t seconds starting at the
 * board time `start`, returns its number of firing events; adds the energy to *energy. The upper bound
 * of one device's energy for (v, t) is returned by xfw_hal_fire_bound. */
uint32_t xfw_hal_fire(unsigned r, unsigned c, double v, double start, double t, double *energy);
double xfw_hal_fire_bound(double v, double t);

/* Grounds every line (ABORT, and after every operation). */
void xfw_hal_idle(void);

/* Time, s: the board clock since boot; see rule 5. xfw_hal_clock_reset() restarts it at 0 (RESET). */
double xfw_hal_clock(void);
void xfw_hal_elapse(double dt);
/* Waits t seconds, calling xfw_poll_abort() meanwhile: returns 0, or 401 when it returned 1 (the wait
 * ends early; xfw_hal_clock() tells how long it lasted). */
int xfw_hal_wait(double t);
void xfw_hal_clock_reset(void);

/* Sends bytes to the host. */
void xfw_hal_link_write(const uint8_t *data, size_t len);
/* Takes up to `cap` bytes the link has received into buf without waiting; returns how many (0: none).
 * The core calls it only while a command runs (xfw_poll_abort); the main loop feeds the rest. */
size_t xfw_hal_link_read(uint8_t *buf, size_t cap);

#endif
