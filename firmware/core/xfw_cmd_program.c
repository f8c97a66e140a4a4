/* Programming commands (PROTOCOL.md §6): PULSE PLIST PBLK OPU FIRE. Each validates the whole request
 * against the envelope (address, amplitude, width, count, energy) before the first pulse. PULSE, PLIST,
 * PBLK and OPU stop between two pulses when an ABORT arrives (401) or the HAL trips (404), replying
 * how many pulses they applied (§3 Abort; FIRE is not interruptible, as in the emulator). */
#include <math.h>
#include <string.h>

#include "xfw_cmd.h"
#include "xfw_num.h"

void xfw_run_begin(double total) {
  xfw.run_total = total;
  xfw.run_applied = 0;
}

/* The 401 or 404 of a train stopped part-way, worded as the emulator's PulseJob (mocks/job.ts). */
static int stopped(int code, unsigned r, unsigned c) {
  const char *applied = xfw_js(xfw.run_applied), *total = xfw_js(xfw.run_total);
  if (code == XFW_ABORTED)
    return xfw_fail(code, "pulses=%s aborted after %s of %s pulses; the array is idle", applied, applied, total);
  return xfw_fail(code, "pulses=%s compliance tripped at device %u after %s of %s pulses; the array is idle",
                  applied, r * xfw_hal_info()->cols + c, applied, total);
}

int xfw_apply_pulses(unsigned r, unsigned c, double v, double w, unsigned n) {
  if (n == 0) return 0;
  /* An ABORT seen at the end of the previous train stops the command before this one. */
  if (xfw.abort) return stopped(XFW_ABORTED, r, c);
  unsigned applied = 0;
  int code = xfw_hal_pulse(r, c, v, w, n, xfw.cfg.scheme, xfw.cfg.cc, &xfw.cnt.energy, &applied);
  xfw.cnt.pulses += applied;
  xfw.run_applied += applied;
  xfw_hal_elapse(applied * w);
  if (code == XFW_ABORTED || code == XFW_COMPLIANCE_TRIP) return stopped(code, r, c);
  if (code) return xfw_fail(code, "the board failed while pulsing device (%u, %u): the array is idle", r, c);
  return 0;
}

static int check_pulse(const xfw_limits *l, double v, double w, double n) {
  TRY(xfw_check_amplitude(l, v));
  TRY(xfw_check_width(l, w));
  return xfw_check_count(l, n);
}

int xfw_cmd_pulse(const xfw_request *r) {
  double row, col, v, w, n, rd, g = 0;
  const double one = 1, zero = 0;
  TRY(xfw_arg_int(r, "r", &row, NULL));
  TRY(xfw_arg_int(r, "c", &col, NULL));
  TRY(xfw_arg_num(r, "v", &v, NULL));
  TRY(xfw_arg_num(r, "w", &w, NULL));
  TRY(xfw_arg_int(r, "n", &n, &one));
  TRY(xfw_arg_int(r, "rd", &rd, &zero));
  if (rd != 0 && rd != 1) return xfw_fail(XFW_BAD_ARGUMENT, "rd must be 0 or 1");
  TRY(xfw_check_address(row, col, 1, 1));
  xfw_limits lim = xfw_limits_now();
  TRY(check_pulse(&lim, v, w, n));
  TRY(xfw_check_energy(&lim, xfw_pulse_bound(v, w, n)));
  xfw_run_begin(n);
  TRY(xfw_apply_pulses((unsigned)row, (unsigned)col, v, w, (unsigned)n));
  if (rd) xfw_read_block((unsigned)row, (unsigned)col, 1, 1, 0, &g);
  xfw_ok();
  xfw_out_num("n", n);
  if (rd) xfw_out_num("g", g);
  return 0;
}

static double at(const xfw_packed *p, double scalar, uint32_t i) { return p->n ? xfw_packed_get(p, i) : scalar; }

int xfw_cmd_plist(const xfw_request *r) {
  xfw_packed rows, cols, pv, pw, pn;
  double v, w, n;
  const double one = 1;
  TRY(xfw_arg_packed(r, "r", XFW_U16, -1, &rows));
  uint32_t k = rows.n;
  xfw_limits lim = xfw_limits_now();
  TRY(xfw_check_list_length(&lim, k));
  TRY(xfw_arg_packed(r, "c", XFW_U16, k, &cols));
  TRY(xfw_arg_scalar_or_packed(r, "v", XFW_F32, k, NULL, &v, &pv));
  TRY(xfw_arg_scalar_or_packed(r, "w", XFW_F32, k, NULL, &w, &pw));
  TRY(xfw_arg_scalar_or_packed(r, "n", XFW_U16, k, &one, &n, &pn));
  double energy = 0, total = 0;
  for (uint32_t i = 0; i < k; i++) {
    TRY(xfw_check_address(xfw_packed_get(&rows, i), xfw_packed_get(&cols, i), 1, 1));
    double vi = at(&pv, v, i), wi = at(&pw, w, i), ni = at(&pn, n, i);
    TRY(check_pulse(&lim, vi, wi, ni));
    energy += xfw_pulse_bound(vi, wi, ni);
    total += ni;
  }
  TRY(xfw_check_energy(&lim, energy));
  xfw_run_begin(total);
  for (uint32_t i = 0; i < k; i++)
    TRY(xfw_apply_pulses((unsigned)xfw_packed_get(&rows, i), (unsigned)xfw_packed_get(&cols, i), at(&pv, v, i),
                         at(&pw, w, i), (unsigned)at(&pn, n, i)));
  xfw_ok();
  xfw_out_num("k", k);
  xfw_out_num("pulses", total);
  return 0;
}

static int signs(double vp, double vn) {
  if (!(vp > 0)) return xfw_fail(XFW_BAD_ARGUMENT, "vp must be positive");
  if (!(vn < 0)) return xfw_fail(XFW_BAD_ARGUMENT, "vn must be negative");
  return 0;
}

int xfw_cmd_pblk(const xfw_request *r) {
  double b[4], vp, vn, w;
  xfw_packed counts;
  TRY(xfw_arg_block(r, b));
  unsigned r0 = (unsigned)b[0], c0 = (unsigned)b[1], nr = (unsigned)b[2], nc = (unsigned)b[3];
  TRY(xfw_arg_packed(r, "n", XFW_I16, (long)nr * nc, &counts));
  TRY(xfw_arg_num(r, "vp", &vp, NULL));
  TRY(xfw_arg_num(r, "vn", &vn, NULL));
  TRY(xfw_arg_num(r, "w", &w, NULL));
  TRY(signs(vp, vn));
  xfw_limits lim = xfw_limits_now();
  TRY(xfw_check_amplitude(&lim, vp));
  TRY(xfw_check_amplitude(&lim, vn));
  TRY(xfw_check_width(&lim, w));
  double total = 0, energy = 0;
  for (uint32_t i = 0; i < counts.n; i++) {
    double n = xfw_packed_get(&counts, i);
    TRY(xfw_check_count(&lim, fabs(n)));
    total += fabs(n);
    energy += xfw_pulse_bound(n > 0 ? vp : vn, w, fabs(n));
  }
  TRY(xfw_check_energy(&lim, energy));
  xfw_run_begin(total);
  for (unsigned i = 0; i < nr; i++) {
    for (unsigned j = 0; j < nc; j++) {
      double n = xfw_packed_get(&counts, i * nc + j);
      if (n != 0) TRY(xfw_apply_pulses(r0 + i, c0 + j, n > 0 ? vp : vn, w, (unsigned)fabs(n)));
    }
  }
  xfw_ok();
  xfw_out_num("pulses", total);
  return 0;
}

/* q(v) of OPU: no pulse below th, else the rounded magnitude (count) or 1 (sign), with v's sign. */
static double opu_count(double v, double th, int sign) {
  double m = fabs(v);
  if (!(m >= th)) return 0;
  double n = sign ? 1 : xfw_num_round(m);
  return v > 0 ? n : -n;
}

int xfw_cmd_opu(const xfw_request *r) {
  double b[4], scale, vp, vn, w, th;
  const double one = 1, half = 0.5;
  xfw_packed x, d;
  const char *mode;
  TRY(xfw_arg_block(r, b));
  unsigned r0 = (unsigned)b[0], c0 = (unsigned)b[1], nr = (unsigned)b[2], nc = (unsigned)b[3];
  TRY(xfw_arg_packed(r, "x", XFW_F32, nr, &x));
  TRY(xfw_arg_packed(r, "d", XFW_F32, nc, &d));
  TRY(xfw_arg_num(r, "scale", &scale, &one));
  TRY(xfw_arg_num(r, "vp", &vp, NULL));
  TRY(xfw_arg_num(r, "vn", &vn, NULL));
  TRY(xfw_arg_num(r, "w", &w, NULL));
  TRY(xfw_arg_token(r, "mode", &mode, "count"));
  TRY(xfw_arg_num(r, "th", &th, &half));
  int sign = strcmp(mode, "sign") == 0;
  if (!sign && strcmp(mode, "count") != 0)
    return xfw_fail(XFW_BAD_ARGUMENT, "mode %s is not count or sign", mode);
  TRY(signs(vp, vn));
  if (!(th > 0) || !isfinite(scale)) return xfw_fail(XFW_BAD_ARGUMENT, "th must be positive and scale finite");
  xfw_limits lim = xfw_limits_now();
  TRY(xfw_check_amplitude(&lim, vp));
  TRY(xfw_check_amplitude(&lim, vn));
  TRY(xfw_check_width(&lim, w));
  double total = 0, energy = 0;
  for (unsigned i = 0; i < nr; i++) {
    double xi = scale * xfw_packed_get(&x, i);
    if (xi == 0) continue;
    for (unsigned j = 0; j < nc; j++) {
      double n = opu_count(xi * xfw_packed_get(&d, j), th, sign);
      if (n == 0) continue;
      TRY(xfw_check_count(&lim, fabs(n)));
      total += fabs(n);
      energy += xfw_pulse_bound(n > 0 ? vp : vn, w, fabs(n));
    }
  }
  TRY(xfw_check_energy(&lim, energy));
  xfw_run_begin(total);
  for (unsigned i = 0; i < nr; i++) {
    double xi = scale * xfw_packed_get(&x, i);
    if (xi == 0) continue;
    for (unsigned j = 0; j < nc; j++) {
      double n = opu_count(xi * xfw_packed_get(&d, j), th, sign);
      if (n != 0) TRY(xfw_apply_pulses(r0 + i, c0 + j, n > 0 ? vp : vn, w, (unsigned)fabs(n)));
    }
  }
  xfw_ok();
  xfw_out_num("pulses", total);
  return 0;
}

int xfw_cmd_fire(const xfw_request *r) {
  double b[4], v, t;
  TRY(xfw_arg_block(r, b));
  TRY(xfw_arg_num(r, "v", &v, NULL));
  TRY(xfw_arg_num(r, "t", &t, NULL));
  xfw_limits lim = xfw_limits_now();
  TRY(xfw_check_amplitude(&lim, v));
  if (!(t > 0 && t <= 1)) return xfw_fail(XFW_BAD_ARGUMENT, "t=%s s outside (0, 1] s", xfw_js(t));
  const xfw_info *in = xfw_hal_info();
  if (!in->has_fire)
    return xfw_fail(XFW_BAD_ARGUMENT,
                    "FIRE needs a threshold-switch device (tech=ts-pcm); this board's devices are %s", in->tech);
  unsigned r0 = (unsigned)b[0], c0 = (unsigned)b[1], nr = (unsigned)b[2], nc = (unsigned)b[3];
  TRY(xfw_check_reply_size(b[2] * b[3] * 4));
  TRY(xfw_check_energy(&lim, xfw_hal_fire_bound(v, t) * nr * nc));
  double start = xfw_hal_clock();
  xfw_ok();
  xfw_out_packed_begin("spikes", XFW_U32);
  for (unsigned i = 0; i < nr; i++)
    for (unsigned j = 0; j < nc; j++) xfw_out_u32(xfw_hal_fire(r0 + i, c0 + j, v, start, t, &xfw.cnt.energy));
  xfw_out_packed_end();
  xfw_hal_elapse(t);
  return 0;
}
