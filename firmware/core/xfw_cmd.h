/* What the command handlers share: the command table, typed argument access and the envelope checks.
 * Every function returning int returns 0 for success or a wire error code, with the message in
 * xfw.msg (set by xfw_fail). Handlers validate everything before they touch the HAL or start a reply. */
#ifndef XFW_CMD_H
#define XFW_CMD_H

#include "xfw.h"
#include "xfw_codec.h"
#include "xfw_out.h"
#include "xfw_wire.h"

#define TRY(x)            \
  do {                    \
    int e_ = (x);         \
    if (e_) return e_;    \
  } while (0)

typedef enum { XFW_CONTROL, XFW_READ, XFW_PROGRAM } xfw_kind;

typedef struct {
  const char *verb;
  const char *const *keys; /* NULL-terminated: every key the verb takes */
  xfw_kind kind;
  int (*run)(const xfw_request *r);
} xfw_command;

extern const xfw_command xfw_commands[];
extern const unsigned xfw_ncommands;

int xfw_fail(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* A number as JavaScript prints it, for messages (rotating static buffers: up to 4 per message). */
const char *xfw_js(double v);
const char *xfw_js6(double v);

/* ---- arguments (firmware-protocol/message.ts argNumber, argInt, argToken, argPacked, ...) ---- */
const xfw_arg *xfw_arg_find(const xfw_request *r, const char *key);
int xfw_arg_num(const xfw_request *r, const char *key, double *out, const double *fallback);
int xfw_arg_int(const xfw_request *r, const char *key, double *out, const double *fallback);
int xfw_arg_token(const xfw_request *r, const char *key, const char **out, const char *fallback);
/* length < 0: any length */
int xfw_arg_packed(const xfw_request *r, const char *key, xfw_ptype type, long length, xfw_packed *out);
/* A number for every entry, or a packed array of `length` (p->n = 0 when a number was given). */
int xfw_arg_scalar_or_packed(const xfw_request *r, const char *key, xfw_ptype type, long length,
                             const double *fallback, double *scalar, xfw_packed *p);
/* 203 unless a packed array has `length` elements. */
int xfw_check_length(const char *key, const xfw_packed *p, long length);
/* The block arguments r0 c0 nr nc, checked against the array; or only parsed (the address later). */
int xfw_arg_block(const xfw_request *r, double b[4]);
int xfw_arg_block_parse(const xfw_request *r, double b[4]);
/* The table's static ranges and choices, in its words (request.ts checkRange): `open` is a set of
 * XFW_OPEN_MIN / XFW_OPEN_MAX, `unit` NULL or "V", "s", ...; `choices` NULL-terminated. */
enum { XFW_OPEN_MIN = 1, XFW_OPEN_MAX = 2 };
int xfw_check_range(const char *key, double v, double lo, double hi, int open, const char *unit);
int xfw_check_choice(const char *key, const char *v, const char *const *choices, int *index);

/* ---- the safety envelope (firmware-protocol/envelope.ts) ---- */
xfw_limits xfw_limits_now(void);
int xfw_check_amplitude(const xfw_limits *l, double v);
int xfw_check_width(const xfw_limits *l, double w);
int xfw_check_count(const xfw_limits *l, double n);
int xfw_check_list_length(const xfw_limits *l, double k);
int xfw_check_read_voltage(const xfw_limits *l, double v);
int xfw_check_compliance(const xfw_limits *l, double cc);
int xfw_check_energy(const xfw_limits *l, double joules);
int xfw_check_address(double r0, double c0, double nr, double nc);
/* v^2 * gmax * w * n: the energy bound of n pulses on the pulsed device */
double xfw_pulse_bound(double v, double w, double n);
/* 103 when a reply with `bytes` of packed data would exceed the line limit */
int xfw_check_reply_size(double bytes);

/* ---- replies ---- */
/* Starts "TAG OK"; the handler then adds arguments with xfw_out_* and returns 0. */
void xfw_ok(void);
/* Reads a block (the core's readBlock): counts reads, energy and time. Streams f32 when `stream`,
 * else returns the single conductance of a 1 x 1 block through *one. */
void xfw_read_block(unsigned r0, unsigned c0, unsigned nr, unsigned nc, int stream, double *one);
/* Starts a programming command that will apply `total` pulses (for the 401/404 messages). */
void xfw_run_begin(double total);
/* Applies n pulses to one device, counting pulses, energy and time (applyPulses); 401 when an ABORT
 * stopped it (or the previous train), 404 on a compliance trip, with the emulator's message. */
int xfw_apply_pulses(unsigned r, unsigned c, double v, double w, unsigned n);

/* Handlers, one per verb (xfw_cmd_control.c, xfw_cmd_read.c, xfw_cmd_program.c). */
int xfw_cmd_nop(const xfw_request *r);
int xfw_cmd_hello(const xfw_request *r);
int xfw_cmd_idn(const xfw_request *r);
int xfw_cmd_lim(const xfw_request *r);
int xfw_cmd_cfg(const xfw_request *r);
int xfw_cmd_read(const xfw_request *r);
int xfw_cmd_readrow(const xfw_request *r);
int xfw_cmd_readcol(const xfw_request *r);
int xfw_cmd_readblk(const xfw_request *r);
int xfw_cmd_readall(const xfw_request *r);
int xfw_cmd_pulse(const xfw_request *r);
int xfw_cmd_plist(const xfw_request *r);
int xfw_cmd_pblk(const xfw_request *r);
int xfw_cmd_opu(const xfw_request *r);
int xfw_cmd_vmm(const xfw_request *r);
int xfw_cmd_vmmt(const xfw_request *r);
int xfw_cmd_fire(const xfw_request *r);
int xfw_cmd_wait(const xfw_request *r);
int xfw_cmd_clk(const xfw_request *r);
int xfw_cmd_stat(const xfw_request *r);
int xfw_cmd_errq(const xfw_request *r);
int xfw_cmd_abort(const xfw_request *r);
int xfw_cmd_reset(const xfw_request *r);

/* Core services the control commands use (xfw.c). */
void xfw_default_config(void);
void xfw_clear_counters(void);
void xfw_clear_replay(void);
int xfw_errq_pop(uint16_t *code, const char **msg);
void xfw_errq_clear(void);
/* Set by RESET: the BOOT event goes out after its reply. */
extern int xfw_boot_pending;

#endif
