/* Control commands (PROTOCOL.md §6): NOP HELLO IDN LIM CFG WAIT CLK STAT ERRQ ABORT RESET. */
#include <math.h>
#include <string.h>

#include "xfw_cmd.h"

int xfw_cmd_nop(const xfw_request *r) {
  (void)r;
  xfw_ok();
  return 0;
}

int xfw_cmd_hello(const xfw_request *r) {
  (void)r; /* the replay window was emptied on receipt (xfw.c); this board requires no token */
  xfw_held_clear(); /* a new session holds no vectors */
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
  if (in->dac_bits) { /* the 1.1 wire (xfw_wire.c) */
    xfw_out_uint("dac", in->dac_bits);
    xfw_out_uint("adc", in->adc_bits);
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

static const char *const SCHEME_NAMES[] = {"V/2", "V/3", "FLOAT", NULL};

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

static const char *const NARROW_KEYS[] = {"vmax", "wmax", "nmax", "emax"};
static const char *const NARROW_UNITS[] = {"V", "s", NULL, "J"};

/* CFG's arguments, each parsed when given (a copy of the configuration otherwise). */
static int cfg_parse(const xfw_request *r, xfw_cfg *next, const char **scheme) {
  double *narrow[] = {&next->vmax, &next->wmax, &next->nmax, &next->emax};
  *scheme = NULL;
  if (xfw_arg_find(r, "vread")) TRY(xfw_arg_num(r, "vread", &next->vread, NULL));
  if (xfw_arg_find(r, "scheme")) TRY(xfw_arg_token(r, "scheme", scheme, NULL));
  if (xfw_arg_find(r, "cc")) TRY(xfw_arg_num(r, "cc", &next->cc, NULL));
  if (xfw_arg_find(r, "tread")) TRY(xfw_arg_num(r, "tread", &next->tread, NULL));
  for (int i = 0; i < 4; i++) {
    if (!xfw_arg_find(r, NARROW_KEYS[i])) continue;
    TRY(i == 2 ? xfw_arg_int(r, NARROW_KEYS[i], narrow[i], NULL) : xfw_arg_num(r, NARROW_KEYS[i], narrow[i], NULL));
  }
  return 0;
}

/* The table's ranges, then the envelope and the narrowing (308), in the table's order. */
static int cfg_check(const xfw_request *r, xfw_cfg *next, const char *scheme) {
  const xfw_limits *hard = &xfw_hal_info()->hard;
  const double *narrow[] = {&next->vmax, &next->wmax, &next->nmax, &next->emax};
  const double lim[] = {hard->vmax, hard->wmax, hard->nmax, hard->emax};
  int found;
  if (scheme) TRY(xfw_check_choice("scheme", scheme, SCHEME_NAMES, &found));
  if (scheme) next->scheme = (xfw_bias)found;
  if (xfw_arg_find(r, "tread")) TRY(xfw_check_range("tread", next->tread, 1e-9, 1e-2, 0, "s"));
  for (int i = 0; i < 4; i++)
    if (xfw_arg_find(r, NARROW_KEYS[i]))
      TRY(xfw_check_range(NARROW_KEYS[i], *narrow[i], 0, INFINITY, XFW_OPEN_MIN, NARROW_UNITS[i]));
  if (xfw_arg_find(r, "vread")) TRY(xfw_check_read_voltage(hard, next->vread));
  if (xfw_arg_find(r, "cc")) TRY(xfw_check_compliance(hard, next->cc));
  for (int i = 0; i < 4; i++)
    if (xfw_arg_find(r, NARROW_KEYS[i]) && *narrow[i] > lim[i])
      return xfw_fail(XFW_WIDEN_REFUSED, "%s=%s would widen the board's limit of %s", NARROW_KEYS[i],
                      xfw_js(*narrow[i]), xfw_js(lim[i]));
  return 0;
}

/* All arguments are validated before any is applied. */
int xfw_cmd_cfg(const xfw_request *r) {
  xfw_cfg next = xfw.cfg;
  const char *scheme;
  TRY(cfg_parse(r, &next, &scheme));
  TRY(cfg_check(r, &next, scheme));
  if (next.wmax < xfw_hal_info()->hard.wmin)
    return xfw_fail(XFW_BAD_ARGUMENT, "wmax below the shortest pulse the board makes");
  xfw.cfg = next;
  xfw_ok();
  put_cfg(&next);
  return 0;
}

int xfw_cmd_wait(const xfw_request *r) {
  double t;
  TRY(xfw_arg_num(r, "t", &t, NULL));
  TRY(xfw_check_range("t", t, 0, 86400, 0, "s"));
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
  if (xfw.minor) TRY(xfw_check_range("clear", clear, 0, 1, 0, NULL)); /* 1.0 took any integer */
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
  xfw_held_clear();
  xfw_hal_clock_reset();
  xfw.boots++;
  xfw_clear_replay();
  xfw_boot_pending = 1;
  xfw_ok();
  return 0;
}
