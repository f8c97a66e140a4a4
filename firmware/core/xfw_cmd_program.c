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
  TRY(xfw_check_range("rd", rd, 0, 1, 0, NULL));
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

/* The table's ranges of vp (> 0) and vn (< 0). */
static int signs(double vp, double vn) {
  TRY(xfw_check_range("vp", vp, 0, INFINITY, XFW_OPEN_MIN, "V"));
  return xfw_check_range("vn", vn, -INFINITY, 0, XFW_OPEN_MAX, "V");
}

/* The envelope of vp, vn and w (amplitude, amplitude, width). */
static int check_train(const xfw_limits *l, double vp, double vn, double w) {
  TRY(xfw_check_amplitude(l, vp));
  TRY(xfw_check_amplitude(l, vn));
  return xfw_check_width(l, w);
}

static int parse_vpvnw(const xfw_request *r, double *vp, double *vn, double *w) {
  TRY(xfw_arg_num(r, "vp", vp, NULL));
  TRY(xfw_arg_num(r, "vn", vn, NULL));
  return xfw_arg_num(r, "w", w, NULL);
}

int xfw_cmd_pblk(const xfw_request *r) {
  double b[4], vp, vn, w;
  xfw_packed counts;
  TRY(xfw_arg_block_parse(r, b));
  TRY(xfw_arg_packed(r, "n", XFW_I16, -1, &counts));
  TRY(parse_vpvnw(r, &vp, &vn, &w));
  TRY(signs(vp, vn));
  TRY(xfw_check_address(b[0], b[1], b[2], b[3]));
  unsigned r0 = (unsigned)b[0], c0 = (unsigned)b[1], nr = (unsigned)b[2], nc = (unsigned)b[3];
  TRY(xfw_check_length("n", &counts, (long)nr * nc));
  xfw_limits lim = xfw_limits_now();
  TRY(check_train(&lim, vp, vn, w));
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

typedef struct {
  double vp, vn, w, scale, th;
  int sign;
} opu_args;

/* OPU's scalars after x and d, parsed and in the table's ranges. */
static int opu_scalars(const xfw_request *r, opu_args *o) {
  static const char *const MODES[] = {"count", "sign", NULL};
  const double one = 1, half = 0.5;
  const char *mode;
  TRY(parse_vpvnw(r, &o->vp, &o->vn, &o->w));
  TRY(xfw_arg_num(r, "scale", &o->scale, &one));
  TRY(xfw_arg_token(r, "mode", &mode, "count"));
  TRY(xfw_arg_num(r, "th", &o->th, &half));
  TRY(signs(o->vp, o->vn));
  TRY(xfw_check_range("scale", o->scale, -INFINITY, INFINITY, XFW_OPEN_MIN | XFW_OPEN_MAX, NULL));
  TRY(xfw_check_choice("mode", mode, MODES, &o->sign));
  return xfw_check_range("th", o->th, 0, INFINITY, XFW_OPEN_MIN, NULL);
}

/* The pulses of device (i, j): n = q(scale · x[i] · d[j]). */
static double opu_n(const opu_args *o, const xfw_packed *x, const xfw_packed *d, unsigned i, unsigned j) {
  return opu_count(o->scale * xfw_packed_get(x, i) * xfw_packed_get(d, j), o->th, o->sign);
}

/* Every count in the envelope and the energy bound, before any pulse (nothing applied on error). */
static int opu_plan(const opu_args *o, const xfw_packed *x, const xfw_packed *d, double *total) {
  xfw_limits lim = xfw_limits_now();
  double energy = 0;
  *total = 0;
  for (unsigned i = 0; i < x->n; i++) {
    if (o->scale * xfw_packed_get(x, i) == 0) continue;
    for (unsigned j = 0; j < d->n; j++) {
      double n = opu_n(o, x, d, i, j);
      if (n == 0) continue;
      TRY(xfw_check_count(&lim, fabs(n)));
      *total += fabs(n);
      energy += xfw_pulse_bound(n > 0 ? o->vp : o->vn, o->w, fabs(n));
    }
  }
  return xfw_check_energy(&lim, energy);
}

int xfw_cmd_opu(const xfw_request *r) {
  double b[4], total;
  opu_args o;
  xfw_packed x, d;
  TRY(xfw_arg_block_parse(r, b));
  const xfw_arg *xa = xfw_arg_find(r, "x");
  int held = xa && strcmp(xa->val, "last") == 0; /* 1.1: the held input of the last VMM on the block */
  if (!held) TRY(xfw_arg_packed(r, "x", XFW_F32, -1, &x));
  TRY(xfw_arg_packed(r, "d", XFW_F32, -1, &d));
  TRY(opu_scalars(r, &o));
  TRY(xfw_check_address(b[0], b[1], b[2], b[3]));
  unsigned r0 = (unsigned)b[0], c0 = (unsigned)b[1], nr = (unsigned)b[2], nc = (unsigned)b[3];
  if (!held) TRY(xfw_check_length("x", &x, nr));
  TRY(xfw_check_length("d", &d, nc));
  xfw_limits lim = xfw_limits_now();
  TRY(check_train(&lim, o.vp, o.vn, o.w));
  if (held) TRY(xfw_held_input(r0, c0, nr, nc, &x));
  TRY(opu_plan(&o, &x, &d, &total));
  xfw_run_begin(total);
  for (unsigned i = 0; i < nr; i++) {
    if (o.scale * xfw_packed_get(&x, i) == 0) continue;
    for (unsigned j = 0; j < nc; j++) {
      double n = opu_n(&o, &x, &d, i, j);
      if (n != 0) TRY(xfw_apply_pulses(r0 + i, c0 + j, n > 0 ? o.vp : o.vn, o.w, (unsigned)fabs(n)));
    }
  }
  xfw_ok();
  xfw_out_num("pulses", total);
  return 0;
}

int xfw_cmd_fire(const xfw_request *r) {
  double b[4], v, t;
  TRY(xfw_arg_block_parse(r, b));
  TRY(xfw_arg_num(r, "v", &v, NULL));
  TRY(xfw_arg_num(r, "t", &t, NULL));
  TRY(xfw_check_range("t", t, 0, 1, XFW_OPEN_MIN, "s"));
  TRY(xfw_check_address(b[0], b[1], b[2], b[3]));
  xfw_limits lim = xfw_limits_now();
  TRY(xfw_check_amplitude(&lim, v));
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
