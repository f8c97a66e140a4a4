/*
 * Typed access to request arguments and the safety envelope, with the codes and the words of
 * firmware-protocol/message.ts (argNumber, argInt, ...) and firmware-protocol/envelope.ts.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "xfw_cmd.h"
#include "xfw_num.h"

int xfw_fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(xfw.msg, sizeof xfw.msg, fmt, ap);
  va_end(ap);
  return code;
}

static char jsbuf[4][XFW_NUM_BUF];
static unsigned jsnext;

const char *xfw_js(double v) {
  char *b = jsbuf[jsnext++ & 3];
  xfw_num_format(v, b);
  return b;
}

const char *xfw_js6(double v) {
  char *b = jsbuf[jsnext++ & 3];
  xfw_num_format6(v, b);
  return b;
}

const xfw_arg *xfw_arg_find(const xfw_request *r, const char *key) {
  for (unsigned i = 0; i < r->nargs; i++)
    if (strcmp(r->args[i].key, key) == 0) return &r->args[i];
  return NULL;
}

static int required(const xfw_request *r, const char *key, const xfw_arg **a) {
  *a = xfw_arg_find(r, key);
  return *a ? 0 : xfw_fail(XFW_MISSING_ARGUMENT, "missing argument %s", key);
}

int xfw_arg_num(const xfw_request *r, const char *key, double *out, const double *fallback) {
  const xfw_arg *a = xfw_arg_find(r, key);
  if (!a && fallback) {
    *out = *fallback;
    return 0;
  }
  TRY(required(r, key, &a));
  if (!xfw_num_parse(a->val, out)) return xfw_fail(XFW_BAD_ARGUMENT, "%s=%.20s is not a number", key, a->val);
  return 0;
}

int xfw_arg_int(const xfw_request *r, const char *key, double *out, const double *fallback) {
  TRY(xfw_arg_num(r, key, out, fallback));
  double v = *out;
  if (!(isfinite(v) && floor(v) == v && fabs(v) <= 9007199254740991.0))
    return xfw_fail(XFW_BAD_ARGUMENT, "%s=%s is not an integer", key, xfw_js(v));
  if (v == 0) *out = 0; /* -0 */
  return 0;
}

int xfw_arg_token(const xfw_request *r, const char *key, const char **out, const char *fallback) {
  const xfw_arg *a = xfw_arg_find(r, key);
  if (!a && fallback) {
    *out = fallback;
    return 0;
  }
  TRY(required(r, key, &a));
  *out = a->val;
  return 0;
}

int xfw_arg_packed(const xfw_request *r, const char *key, xfw_ptype type, long length, xfw_packed *out) {
  const xfw_arg *a;
  TRY(required(r, key, &a));
  const char *err = xfw_packed_decode(a->val, a->vlen, out);
  if (err) return xfw_fail(XFW_BAD_ARGUMENT, "%s: %s", key, err);
  /* A quantised array (1.1) stands for float32 values: it is read as them, wherever f32 is asked. */
  if (out->scale > 0 && type != XFW_F32)
    return xfw_fail(XFW_BAD_ARGUMENT, "%s must be a packed %s array, not quantised", key, xfw_ptype_name[type]);
  if (out->scale == 0 && out->type != type)
    return xfw_fail(XFW_BAD_ARGUMENT, "%s must be a packed %s array, not %s", key, xfw_ptype_name[type],
                    xfw_ptype_name[out->type]);
  return length >= 0 ? xfw_check_length(key, out, length) : 0;
}

int xfw_check_length(const char *key, const xfw_packed *p, long length) {
  if (p->n != (unsigned long)length)
    return xfw_fail(XFW_BAD_ARGUMENT, "%s has %lu elements, expected %ld", key, (unsigned long)p->n, length);
  return 0;
}

int xfw_arg_scalar_or_packed(const xfw_request *r, const char *key, xfw_ptype type, long length,
                             const double *fallback, double *scalar, xfw_packed *p) {
  const xfw_arg *a = xfw_arg_find(r, key);
  p->n = 0;
  p->bytes = NULL;
  p->scale = 0;
  if (a && xfw_is_packed(a->val, a->vlen)) return xfw_arg_packed(r, key, type, length, p);
  return xfw_arg_num(r, key, scalar, fallback);
}

int xfw_arg_block_parse(const xfw_request *r, double b[4]) {
  TRY(xfw_arg_int(r, "r0", &b[0], NULL));
  TRY(xfw_arg_int(r, "c0", &b[1], NULL));
  TRY(xfw_arg_int(r, "nr", &b[2], NULL));
  return xfw_arg_int(r, "nc", &b[3], NULL);
}

/* A static range of the command table, worded as checkRange (firmware-protocol/request.ts). */
int xfw_check_range(const char *key, double v, double lo, double hi, int open, const char *unit) {
  int open_lo = open & XFW_OPEN_MIN, open_hi = open & XFW_OPEN_MAX;
  if ((open_lo ? v > lo : v >= lo) && (open_hi ? v < hi : v <= hi)) return 0;
  const char *u = unit ? unit : "", *sp = unit ? " " : "";
  char what[64];
  if (isinf(lo) && isinf(hi)) snprintf(what, sizeof what, "must be finite");
  else if (isinf(hi)) snprintf(what, sizeof what, "must be %s %s%s%s", open_lo ? ">" : ">=", xfw_js6(lo), sp, u);
  else if (isinf(lo)) snprintf(what, sizeof what, "must be %s %s%s%s", open_hi ? "<" : "<=", xfw_js6(hi), sp, u);
  else
    snprintf(what, sizeof what, "outside %s%s, %s%s%s%s", open_lo ? "(" : "[", xfw_js6(lo), xfw_js6(hi),
             open_hi ? ")" : "]", sp, u);
  return xfw_fail(XFW_BAD_ARGUMENT, "%s=%s%s%s %s", key, xfw_js6(v), sp, u, what);
}

/* One of the table's tokens, worded as checkRequest: "mode foo is not one of count, sign". */
int xfw_check_choice(const char *key, const char *v, const char *const *choices, int *index) {
  char all[64] = "";
  for (int i = 0; choices[i]; i++) {
    if (strcmp(v, choices[i]) == 0) return *index = i, 0;
    snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", i ? ", " : "", choices[i]);
  }
  return xfw_fail(XFW_BAD_ARGUMENT, "%s %s is not one of %s", key, v, all);
}

int xfw_arg_block(const xfw_request *r, double b[4]) {
  TRY(xfw_arg_block_parse(r, b));
  return xfw_check_address(b[0], b[1], b[2], b[3]);
}

/* ---- envelope ---- */

xfw_limits xfw_limits_now(void) {
  xfw_limits l = xfw_hal_info()->hard;
  l.vmax = xfw.cfg.vmax;
  l.wmax = xfw.cfg.wmax;
  l.nmax = xfw.cfg.nmax;
  l.emax = xfw.cfg.emax;
  return l;
}

int xfw_check_amplitude(const xfw_limits *l, double v) {
  if (!(fabs(v) <= l->vmax))
    return xfw_fail(XFW_AMPLITUDE_LIMIT, "amplitude %s V outside the envelope (|v| <= %s V)", xfw_js6(v),
                    xfw_js6(l->vmax));
  return 0;
}

int xfw_check_width(const xfw_limits *l, double w) {
  if (!(w >= l->wmin && w <= l->wmax))
    return xfw_fail(XFW_WIDTH_LIMIT, "width %s s outside the envelope [%s, %s] s", xfw_js6(w), xfw_js6(l->wmin),
                    xfw_js6(l->wmax));
  return 0;
}

int xfw_check_count(const xfw_limits *l, double n) {
  if (!(isfinite(n) && floor(n) == n && n >= 0 && n <= l->nmax))
    return xfw_fail(XFW_COUNT_LIMIT, "pulse count %s outside the envelope [0, %s]", xfw_js(n), xfw_js(l->nmax));
  return 0;
}

int xfw_check_list_length(const xfw_limits *l, double k) {
  if (!(k >= 0 && k <= l->plmax))
    return xfw_fail(XFW_COUNT_LIMIT, "pulse list of %s entries outside the envelope [0, %s]", xfw_js(k),
                    xfw_js(l->plmax));
  return 0;
}

int xfw_check_read_voltage(const xfw_limits *l, double v) {
  if (!(fabs(v) <= l->vrmax))
    return xfw_fail(XFW_READ_VOLTAGE_LIMIT, "read voltage %s V outside the envelope (|v| <= %s V)", xfw_js6(v),
                    xfw_js6(l->vrmax));
  return 0;
}

int xfw_check_compliance(const xfw_limits *l, double cc) {
  if (!(cc > 0 && cc <= l->ccmax))
    return xfw_fail(XFW_COMPLIANCE_LIMIT, "compliance %s A outside the envelope (0, %s] A", xfw_js6(cc),
                    xfw_js6(l->ccmax));
  return 0;
}

int xfw_check_energy(const xfw_limits *l, double joules) {
  if (joules > l->emax)
    return xfw_fail(XFW_ENERGY_LIMIT, "operation would spend %s J, above the envelope of %s J", xfw_js6(joules),
                    xfw_js6(l->emax));
  return 0;
}

int xfw_check_address(double r0, double c0, double nr, double nc) {
  const xfw_info *in = xfw_hal_info();
  if (r0 < 0 || c0 < 0 || nr < 1 || nc < 1 || r0 + nr > in->rows || c0 + nc > in->cols) {
    if (nr == 1 && nc == 1)
      return xfw_fail(XFW_ADDRESS_RANGE, "device (%s, %s) outside the %ux%u array", xfw_js(r0), xfw_js(c0),
                      in->rows, in->cols);
    return xfw_fail(XFW_ADDRESS_RANGE, "block %sx%s at (%s, %s) outside the %ux%u array", xfw_js(nr), xfw_js(nc),
                    xfw_js(r0), xfw_js(c0), in->rows, in->cols);
  }
  return 0;
}

double xfw_pulse_bound(double v, double w, double n) { return v * v * xfw_hal_info()->gmax * w * n; }

int xfw_check_reply_size(double bytes) {
  if (ceil(bytes / 3) * 4 + 256 > XFW_MAX_LINE)
    return xfw_fail(XFW_LINE_TOO_LONG, "reply would exceed the board's line limit of %u bytes: read in blocks",
                    (unsigned)XFW_MAX_LINE);
  return 0;
}
