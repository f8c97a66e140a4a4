/*
 * The session of the firmware (PROTOCOL.md §1-3, §5): the line framer, the replay window, REJECT and
 * ERR, the error queue and the dispatch through the command table. Mirrors the Session and the
 * execute() of the TypeScript emulator (mocks/board.ts).
 */
#include "xfw.h"

#include <stdio.h>
#include <string.h>

#include "xfw_cmd.h"

struct xfw_core xfw;
int xfw_boot_pending;

_Static_assert(sizeof(struct xfw_core) <= XFW_CORE_RAM_BUDGET,
               "the core's static RAM exceeds XFW_CORE_RAM_BUDGET: shrink XFW_MAX_LINE or the replay slots");
_Static_assert(XFW_MAX_LINE >= 1024, "IDN maxline below 1 KiB leaves no room for a pulse list");
_Static_assert(XFW_REPLAY_SLOT >= 160, "a replay slot must hold every reply of a programming command");
_Static_assert(XFW_ERRQ_DEPTH <= 255, "the queue's size fits its counters");
_Static_assert(16 * XFW_MAX_DIM <= XFW_MAX_LINE, "a q=1 VMM reply is collected in the line buffer (xfw_wire.c)");
_Static_assert(XFW_HELD_BLOCKS <= 255 && XFW_MAX_DIM <= 65535, "held keys fit their fields");

void xfw_default_config(void) {
  const xfw_limits *h = &xfw_hal_info()->hard;
  xfw.cfg.vread = 0.2;
  xfw.cfg.scheme = XFW_BIAS_V2;
  xfw.cfg.cc = 1e-4;
  xfw.cfg.tread = 1e-6;
  xfw.cfg.vmax = h->vmax;
  xfw.cfg.wmax = h->wmax;
  xfw.cfg.nmax = h->nmax;
  xfw.cfg.emax = h->emax;
}

void xfw_clear_counters(void) { memset(&xfw.cnt, 0, sizeof xfw.cnt); }

void xfw_clear_replay(void) {
  for (unsigned i = 0; i < XFW_REPLAY_WINDOW; i++) xfw.replay[i].seq = 0;
}

/* Clears what the core's state means, not its buffers (the line, the reply slots): on the host build
 * those are tens of MB of address space that stay untouched, so never resident, until used. */
void xfw_init(unsigned minor) {
  xfw.len = 0;
  xfw.dropping = 0;
  xfw_input_clear();
  xfw_clear_replay();
  xfw.replay_seq = 0;
  xfw_held_clear();
  xfw.qon = 0;
  xfw_errq_clear();
  xfw_clear_counters();
  xfw.boots = 0;
  xfw_out_begin();
  xfw.b64_len = 0;
  xfw.minor = (uint8_t)minor;
  xfw_boot_pending = 0;
  xfw_default_config();
}

void xfw_announce_boot(void) {
  xfw_out_begin();
  xfw_out_str("! BOOT");
  xfw_out_token("fw", XFW_VERSION);
  xfw_out_num("proto", XFW_PROTOCOL);
  if (xfw.minor) xfw_out_num("minor", xfw.minor);
  xfw_out_end();
}

/* ---- error queue ---- */

static void push_error(int code, const char *msg) {
  xfw.cnt.errors++;
  unsigned slot;
  if (xfw.errq_count >= XFW_ERRQ_DEPTH) {
    slot = (xfw.errq_head + XFW_ERRQ_DEPTH - 1) % XFW_ERRQ_DEPTH;
    code = XFW_QUEUE_OVERFLOW;
    msg = "queue overflow";
  } else {
    slot = (xfw.errq_head + xfw.errq_count++) % XFW_ERRQ_DEPTH;
  }
  xfw.errq[slot].code = (uint16_t)code;
  strncpy(xfw.errq[slot].msg, msg, XFW_ERRQ_MSG - 1);
  xfw.errq[slot].msg[XFW_ERRQ_MSG - 1] = 0;
}

int xfw_errq_pop(uint16_t *code, const char **msg) {
  if (xfw.errq_count == 0) return 0;
  *code = xfw.errq[xfw.errq_head].code;
  *msg = xfw.errq[xfw.errq_head].msg;
  xfw.errq_head = (uint8_t)((xfw.errq_head + 1) % XFW_ERRQ_DEPTH);
  xfw.errq_count--;
  return 1;
}

void xfw_errq_clear(void) { xfw.errq_head = xfw.errq_count = 0; }

/* ---- replay window ---- */

static xfw_replay_slot *replay_find(uint16_t tag, uint32_t crc) {
  for (unsigned i = 0; i < XFW_REPLAY_WINDOW; i++) {
    xfw_replay_slot *s = &xfw.replay[i];
    if (s->seq && s->len && s->tag == tag && s->crc == crc) return s;
  }
  return NULL;
}

/* Remembers the reply just written (in xfw.cap), replacing any older reply to the same tag. */
static void replay_store(uint16_t tag, uint32_t crc) {
  xfw_replay_slot *free_slot = NULL, *oldest = NULL;
  for (unsigned i = 0; i < XFW_REPLAY_WINDOW; i++) {
    xfw_replay_slot *s = &xfw.replay[i];
    if (s->seq && s->tag == tag) s->seq = 0;
    if (!s->seq) {
      if (!free_slot) free_slot = s;
    } else if (!oldest || s->seq < oldest->seq) {
      oldest = s;
    }
  }
  xfw_replay_slot *s = free_slot ? free_slot : oldest;
  s->seq = ++xfw.replay_seq;
  s->tag = tag;
  s->crc = crc;
  /* A reply larger than a slot (a read) keeps its place in the window, so that the window holds the
   * last XFW_REPLAY_WINDOW requests as the spec says, but is not stored: a retransmission reads again. */
  s->len = xfw.cap_over ? 0 : xfw.cap_len;
  if (s->len) memcpy(s->reply, xfw.cap, xfw.cap_len);
}

/* ---- lines ---- */

/* "TAG ERR CODE message" for the request being handled. */
static void err_reply(uint32_t tag, int code, const char *msg) {
  char head[8], rev[6];
  int n = 0, m = 0;
  do rev[m++] = (char)('0' + tag % 10);
  while ((tag /= 10) > 0);
  while (m) head[n++] = rev[--m];
  xfw_out_begin();
  xfw_out_bytes(head, (size_t)n);
  xfw_out_str(" ERR ");
  xfw_out_message(xfw_js(code));
  xfw_out_str(" ");
  xfw_out_message(msg);
  xfw_out_end();
}

static void reject(int code, const char *msg) {
  push_error(code, msg);
  xfw_out_begin();
  xfw_out_str("! REJECT");
  xfw_out_num("code", code);
  xfw_out_token("msg", msg);
  xfw_out_end();
}

/* "! FAULT code=... msg=...": an asynchronous fault (a compliance trip), PROTOCOL.md §2 Events. */
static void fault_event(int code, const char *msg) {
  xfw_out_begin();
  xfw_out_str("! FAULT");
  xfw_out_num("code", code);
  xfw_out_token("msg", msg);
  xfw_out_end();
}

void xfw_ok(void) {
  char t[8];
  int n = 0;
  uint32_t tag = xfw.req.tag;
  char rev[6];
  do rev[n++] = (char)('0' + tag % 10);
  while ((tag /= 10) > 0);
  for (int i = 0; i < n; i++) t[i] = rev[n - 1 - i];
  xfw_out_begin();
  xfw_out_bytes(t, (size_t)n);
  xfw_out_str(" OK");
}

static int execute(const xfw_request *r) {
  const xfw_command *cmd = NULL;
  for (unsigned i = 0; i < xfw_ncommands; i++)
    if (strcmp(xfw_commands[i].verb, r->verb) == 0) cmd = &xfw_commands[i];
  if (!cmd) return xfw_fail(XFW_UNKNOWN_COMMAND, "unknown command %.16s", r->verb);
  for (unsigned i = 0; i < r->nargs; i++) {
    int known = 0;
    for (const char *const *k = cmd->keys; *k && !known; k++) known = strcmp(*k, r->args[i].key) == 0;
    if (!known) return xfw_fail(XFW_UNKNOWN_ARGUMENT, "unknown argument %s", r->args[i].key);
  }
  return cmd->run(r);
}

/* The framer's byte (xfw_input.c feeds it in the order received): LF ends a line. */
void xfw_frame_byte(uint8_t b) {
  if (b == '\n') {
    xfw.cnt.rx += xfw.dropping ? 2 : xfw.len + 1; /* an over-long line counts as its marker, as the emulator's */
    if (xfw.dropping) {
      char msg[48];
      snprintf(msg, sizeof msg, "line longer than %u bytes", (unsigned)XFW_MAX_LINE);
      reject(XFW_LINE_TOO_LONG, msg);
    } else {
      xfw_handle_line(xfw.line, xfw.len);
    }
    xfw.dropping = 0;
    xfw.len = 0;
  } else if (!xfw.dropping) {
    if (xfw.len + 1 > XFW_MAX_LINE - 1) {
      xfw.dropping = 1;
      xfw.len = 0;
    } else {
      xfw.line[xfw.len++] = (char)b;
    }
  }
}

void xfw_handle_line(char *line, uint32_t len) {
  if (len == 0 || (len == 1 && line[0] == '\r')) return; /* a person pressing Enter */
  xfw_decoded d;
  xfw_request *r = &xfw.req;
  xfw_decode_line(line, len, XFW_MAX_LINE, xfw.minor, r, &d);
  if (d.code && d.has_tag && d.code == XFW_MALFORMED && xfw.minor) {
    /* 1.1: a request whose checksum is right and whose tag could be read is answered, not REJECTed
     * (REJECT asks for a resend, which would fail the same way). */
    push_error(d.code, d.reason);
    err_reply(r->tag, d.code, d.reason);
    replay_store((uint16_t)r->tag, r->crc);
    return;
  }
  if (d.code) return reject(d.code, d.reason);
  if (strcmp(r->verb, "HELLO") == 0) {
    xfw_clear_replay();
    if (xfw.minor) xfw_default_config(); /* 1.1: a new session starts from the defaults */
  }
  xfw_replay_slot *seen = replay_find((uint16_t)r->tag, r->crc);
  if (seen) {
    xfw.cnt.tx += seen->len;
    xfw_hal_link_write((const uint8_t *)seen->reply, seen->len);
    return;
  }
  xfw.abort = 0; /* only an ABORT that arrives while this command runs stops it (xfw_input.c) */
  int code = execute(r);
  xfw_hal_idle();
  if (code == XFW_COMPLIANCE_TRIP) fault_event(code, xfw.msg); /* before the reply, as the emulator */
  /* A command stopped part-way (401, 404) was executed, as far as it went: the emulator counts it. */
  if (code == 0 || code == XFW_ABORTED || code == XFW_COMPLIANCE_TRIP) xfw.cnt.cmds++;
  if (code == 0) {
    xfw_out_end();
  } else {
    push_error(code, xfw.msg);
    err_reply(r->tag, code, xfw.msg);
  }
  replay_store((uint16_t)r->tag, r->crc);
  if (xfw_boot_pending) {
    xfw_boot_pending = 0;
    xfw_announce_boot();
  }
}
