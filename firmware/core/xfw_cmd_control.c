/* Control commands (PROTOCOL.md §6): NOP HELLO IDN LIM CFG WAIT CLK STAT ERRQ ABORT RESET. */
#include <string.h>

#include "xfw_cmd.h"

int xfw_cmd_nop(const xfw_request *r) {
  (void)r;
  xfw_ok();
  return 0;
}

int xfw_cmd_hello(const xfw_request *r) {
  (void)r; /* the replay window was emptied on receipt (xfw.c); this board requires no token */
  xfw_ok();
  xfw_out_num("proto", XFW_PROTOCOL);
  xfw_out_token("fw", XFW_VERSION);
  if (xfw.minor) xfw_out_num("minor", xfw.minor);
  return 0;
}

int xfw_cmd_idn(const xfw_request *r) {
  (void)r;
  const xfw_info *in = xfw_hal_info();
  xfw_ok();
  xfw_out_token("vendor", in->vendor);
  xfw_out_token("model", in->model);
  xfw_out_token("serial", in->serial);
  xfw_out_token("fw", XFW_VERSION);
  xfw_out_num("proto", XFW_PROTOCOL);
  xfw_out_uint("rows", in->rows);
  xfw_out_uint("cols", in->cols);
  xfw_out_token("tech", in->tech);
  xfw_out_str(" ops=");
  for (unsigned i = 0; i < xfw_ncommands; i++) {
    if (i) xfw_out_str(",");
    xfw_out_str(xfw_commands[i].verb);
  }
  xfw_out_uint("window", XFW_WINDOW);
  xfw_out_uint("maxline", XFW_MAX_LINE);
  xfw_out_token("effects", in->effects);
  if (xfw.minor) {
    xfw_out_token("timing", in->timing);
    xfw_out_num("minor", xfw.minor);
  }
  return 0;
}

int xfw_cmd_lim(const xfw_request *r) {
  (void)r;
  xfw_limits l = xfw_limits_now();
  xfw_ok();
  xfw_out_num("vmax", l.vmax);
  xfw_out_num("wmin", l.wmin);
  xfw_out_num("wmax", l.wmax);
  xfw_out_num("nmax", l.nmax);
  xfw_out_num("plmax", l.plmax);
  xfw_out_num("vrmax", l.vrmax);
  xfw_out_num("ccmax", l.ccmax);
  xfw_out_num("emax", l.emax);
  xfw_out_num("gmax", xfw_hal_info()->gmax);
  return 0;
}

static const char *const SCHEME_NAMES[] = {"V/2", "V/3", "FLOAT"};

static void put_cfg(const xfw_cfg *c) {
  xfw_out_num("vread", c->vread);
  xfw_out_token("scheme", SCHEME_NAMES[c->scheme]);
  xfw_out_num("cc", c->cc);
  xfw_out_num("tread", c->tread);
  xfw_out_num("vmax", c->vmax);
  xfw_out_num("wmax", c->wmax);
  xfw_out_num("nmax", c->nmax);
  xfw_out_num("emax", c->emax);
}

/* All arguments are validated before any is applied. */
int xfw_cmd_cfg(const xfw_request *r) {
  const xfw_limits *hard = &xfw_hal_info()->hard;
  xfw_cfg next = xfw.cfg;
  if (xfw_arg_find(r, "vread")) {
    TRY(xfw_arg_num(r, "vread", &next.vread, NULL));
    TRY(xfw_check_read_voltage(hard, next.vread));
  }
  if (xfw_arg_find(r, "scheme")) {
    const char *s;
    TRY(xfw_arg_token(r, "scheme", &s, NULL));
    int found = -1;
    for (int i = 0; i < 3; i++)
      if (strcmp(s, SCHEME_NAMES[i]) == 0) found = i;
    if (found < 0) return xfw_fail(XFW_BAD_ARGUMENT, "scheme %s is not one of V/2, V/3, FLOAT", s);
    next.scheme = (xfw_bias)found;
  }
  if (xfw_arg_find(r, "cc")) {
    TRY(xfw_arg_num(r, "cc", &next.cc, NULL));
    TRY(xfw_check_compliance(hard, next.cc));
  }
  if (xfw_arg_find(r, "tread")) {
    TRY(xfw_arg_num(r, "tread", &next.tread, NULL));
    if (!(next.tread >= 1e-9 && next.tread <= 1e-2))
      return xfw_fail(XFW_BAD_ARGUMENT, "tread outside [1e-9, 1e-2] s");
  }
  static const char *const KEYS[] = {"vmax", "wmax", "nmax", "emax"};
  double *dst[] = {&next.vmax, &next.wmax, &next.nmax, &next.emax};
  const double lim[] = {hard->vmax, hard->wmax, hard->nmax, hard->emax};
  for (int i = 0; i < 4; i++) {
    if (!xfw_arg_find(r, KEYS[i])) continue;
    double v;
    TRY(i == 2 ? xfw_arg_int(r, KEYS[i], &v, NULL) : xfw_arg_num(r, KEYS[i], &v, NULL));
    if (!(v > 0)) return xfw_fail(XFW_BAD_ARGUMENT, "%s must be positive", KEYS[i]);
    if (v > lim[i])
      return xfw_fail(XFW_WIDEN_REFUSED, "%s=%s would widen the board's limit of %s", KEYS[i], xfw_js(v),
                      xfw_js(lim[i]));
    *dst[i] = v;
  }
  if (next.wmax < hard->wmin) return xfw_fail(XFW_BAD_ARGUMENT, "wmax below the shortest pulse the board makes");
  xfw.cfg = next;
  xfw_ok();
  put_cfg(&next);
  return 0;
}

int xfw_cmd_wait(const xfw_request *r) {
  double t;
  TRY(xfw_arg_num(r, "t", &t, NULL));
  if (!(t >= 0 && t <= 86400)) return xfw_fail(XFW_BAD_ARGUMENT, "wait %s s outside [0, 86400] s", xfw_js(t));
  if (xfw_hal_wait(t) == XFW_ABORTED)
    return xfw_fail(XFW_ABORTED, "t=%s wait aborted; the array is idle", xfw_js(xfw_hal_clock()));
  xfw_ok();
  xfw_out_num("t", xfw_hal_clock());
  return 0;
}

int xfw_cmd_clk(const xfw_request *r) {
  (void)r;
  xfw_ok();
  xfw_out_num("t", xfw_hal_clock());
  return 0;
}

int xfw_cmd_stat(const xfw_request *r) {
  double clear;
  const double no = 0;
  TRY(xfw_arg_int(r, "clear", &clear, &no));
  if (clear != 0 && clear != 1 && xfw.minor)
    return xfw_fail(XFW_BAD_ARGUMENT, "clear=%s outside [0, 1]", xfw_js6(clear)); /* the table's range words */
  xfw_counters c = xfw.cnt;
  if (clear != 0) xfw_clear_counters();
  xfw_ok();
  xfw_out_num("pulses", c.pulses);
  xfw_out_num("reads", c.reads);
  xfw_out_num("vmms", c.vmms);
  xfw_out_num("energy", c.energy);
  xfw_out_num("cmds", c.cmds);
  xfw_out_num("errors", c.errors);
  xfw_out_num("t", xfw_hal_clock());
  if (xfw.minor) {
    xfw_out_num("rx", c.rx);
    xfw_out_num("tx", c.tx);
  }
  return 0;
}

int xfw_cmd_errq(const xfw_request *r) {
  (void)r;
  uint16_t code = 0;
  const char *msg = "No error";
  xfw_errq_pop(&code, &msg);
  xfw_ok();
  xfw_out_num("code", code);
  xfw_out_token("msg", msg);
  return 0;
}

int xfw_cmd_abort(const xfw_request *r) {
  (void)r;
  /* A command that was running when this ABORT arrived has stopped and replied 401 already (the
   * ABORT was seen from the input queue, xfw_input.c); it is executed now, in order: ground every line. */
  xfw_hal_idle();
  xfw_ok();
  xfw_out_num("idle", 1);
  return 0;
}

/* Restores the defaults, clears counters, the error queue, the clock and the replay window; the BOOT
 * event follows the reply. Device states are non-volatile and kept. */
int xfw_cmd_reset(const xfw_request *r) {
  (void)r;
  xfw_default_config();
  xfw_clear_counters();
  xfw_errq_clear();
  xfw_hal_clock_reset();
  xfw.boots++;
  xfw_clear_replay();
  xfw_boot_pending = 1;
  xfw_ok();
  return 0;
}
