/*
 * The portable core of the xbar reference firmware (PROTOCOL.md version 1): framing, checksum, tags,
 * the replay window, REJECT/ERR/events, the safety envelope, every command of the table, the error
 * queue and the counters. No dynamic allocation: all state is the one static struct xfw_core.
 *
 *   bytes ─▶ xfw_feed ─▶ line framer (XFW_MAX_LINE) ─▶ decode (xfw_codec.c) ─▶ replay window?
 *         ─▶ command table + envelope (xfw_cmd_*.c) ─▶ HAL (xfw_hal.h) ─▶ reply streamed to the link
 *
 * Usage (see host/main.c, mcu/main.c): xfw_init(); then xfw_feed() every received byte chunk. While a
 * programming command or a WAIT runs, the HAL calls xfw_poll_abort() between pulses: the core then
 * takes what the link received meanwhile (xfw_hal_link_read) into its input queue, stops the command
 * if an ABORT is among it (ERR 401), and executes the queued lines after it, in order.
 */
#ifndef XFW_H
#define XFW_H

#include <stddef.h>
#include <stdint.h>

#include "xfw_config.h"
#include "xfw_hal.h"

#define XFW_MAX_DIM (XFW_MAX_ROWS > XFW_MAX_COLS ? XFW_MAX_ROWS : XFW_MAX_COLS)

/* Wire error codes (PROTOCOL.md §5; the names of firmware-protocol/constants.ts). */
enum {
  XFW_BAD_CHECKSUM = 101,
  XFW_MALFORMED = 102,
  XFW_LINE_TOO_LONG = 103,
  XFW_BAD_TAG = 104,
  XFW_UNKNOWN_COMMAND = 201,
  XFW_MISSING_ARGUMENT = 202,
  XFW_BAD_ARGUMENT = 203,
  XFW_UNKNOWN_ARGUMENT = 204,
  XFW_AMPLITUDE_LIMIT = 301,
  XFW_WIDTH_LIMIT = 302,
  XFW_COUNT_LIMIT = 303,
  XFW_COMPLIANCE_LIMIT = 304,
  XFW_ADDRESS_RANGE = 305,
  XFW_READ_VOLTAGE_LIMIT = 306,
  XFW_ENERGY_LIMIT = 307,
  XFW_WIDEN_REFUSED = 308,
  XFW_QUEUE_OVERFLOW = 350,
  XFW_ABORTED = 401,
  XFW_BUSY = 402,
  XFW_UNAUTHORIZED = 403,
  XFW_COMPLIANCE_TRIP = 404,
  XFW_INTERNAL = 500
};

/* One argument of a request: key and value point into the line buffer (value percent-decoded). */
typedef struct {
  const char *key;
  char *val;
  uint16_t klen;
  uint32_t vlen;
} xfw_arg;

typedef struct {
  uint32_t tag;
  uint32_t crc;
  const char *verb;
  unsigned vlen;
  unsigned nargs;
  xfw_arg args[XFW_MAX_ARGS];
} xfw_request;

typedef struct {
  double vread, cc, tread, vmax, wmax, nmax, emax;
  xfw_bias scheme;
} xfw_cfg;

typedef struct {
  double pulses, reads, vmms, energy, cmds, errors;
  double rx, tx; /* 1.1: bytes received and sent on the link, terminators included */
} xfw_counters;

typedef struct {
  uint32_t seq; /* 0 = empty */
  uint32_t len; /* 0 = a reply too large for the slot: holds its place in the window, never replayed */
  uint32_t crc;
  uint16_t tag;
  char reply[XFW_REPLAY_SLOT];
} xfw_replay_slot;

/* A block of the array (r0, c0, nr, nc), the key of a held vector. */
typedef struct {
  uint16_t r0, c0, nr, nc;
} xfw_block_key;

typedef struct {
  uint16_t code;
  char msg[XFW_ERRQ_MSG];
} xfw_errq_entry;

/* Everything the core holds. */
struct xfw_core {
  /* receive framer */
  char line[XFW_MAX_LINE];
  uint32_t len;
  uint8_t dropping;
  /* input that arrives while a command runs (xfw_input.c): a ring of XFW_PENDING bytes; the positions
   * count bytes since power-up (modulo 2^32) */
  uint8_t pending[XFW_PENDING];
  uint32_t pend_head, pend_tail;   /* bytes the framer has taken, bytes queued */
  uint32_t scan_line, scan_pos;    /* start of the first line not yet checked for ABORT, bytes searched */
  const uint8_t *chunk;            /* the rest of the bytes given to xfw_feed that the framer has not reached */
  size_t chunk_len;
  uint8_t abort;                   /* an ABORT arrived while the running command ran */
  /* pulses of the running programming command: all it will apply, applied so far */
  double run_total, run_applied;
  /* session */
  xfw_replay_slot replay[XFW_REPLAY_WINDOW];
  uint32_t replay_seq;
  xfw_errq_entry errq[XFW_ERRQ_DEPTH];
  uint8_t errq_head, errq_count;
  xfw_cfg cfg;
  xfw_counters cnt;
  uint32_t boots;
  uint8_t minor; /* protocol minor version followed: 0 (1.0) or 1 (1.1) */
  /* work buffers of the commands (one row, one vector) */
  double row[XFW_MAX_DIM];
  double acc[XFW_MAX_DIM];
  float vec[XFW_MAX_DIM];
  xfw_request req;
  char msg[160]; /* message of the error being reported */
  /* reply being written: checksum so far, a copy for the replay window, bytes not yet sent */
  uint32_t out_crc;
  uint32_t cap_len;
  uint8_t cap_over;
  uint8_t tx_len;
  char cap[XFW_REPLAY_SLOT];
  uint8_t tx[64];
  /* base64 of a packed array being written: up to 2 pending bytes */
  uint8_t b64[3];
  uint8_t b64_len;
  /* 1.1 wire (xfw_wire.c): the float32 values of a q=1 reply, collected in the line buffer until they
   * are quantised; the held VMM inputs, oldest first, one after the other in `held` */
  uint8_t *qbuf;
  const char *qkey;
  uint32_t qn;
  uint8_t qon;
  uint8_t held_n;
  xfw_block_key held_key[XFW_HELD_BLOCKS];
  float held[XFW_HELD_FLOATS];
};

extern struct xfw_core xfw;

/* Resets the whole core (power-up) as a board of protocol 1.`minor` (XFW_PROTOCOL_MINOR, or 0 to answer
 * as a 1.0 board did). Sends nothing: call xfw_announce_boot() when the board has started (1.1). */
void xfw_init(unsigned minor);
/* Sends the BOOT event. */
void xfw_announce_boot(void);
/* Feeds received bytes; replies leave through xfw_hal_link_write before this returns. */
void xfw_feed(const uint8_t *data, size_t len);
/* For the HAL, between two pulses of a train, at the end of one, and while waiting: takes the bytes the
 * link has received (the rest of the chunk being fed, then xfw_hal_link_read) into the input queue as far
 * as it has room, checks each line completed there for an ABORT request, and returns 1 once one has
 * arrived while the running command runs (the HAL then stops: the command replies 401). Never executes
 * anything; cheap when nothing arrived. */
int xfw_poll_abort(void);
/* Empties the input queue (power-up). */
void xfw_input_clear(void);
/* The framer, one byte at a time (xfw_feed calls it). */
void xfw_frame_byte(uint8_t b);
/* Handles one line without its LF (for tests; xfw_feed frames lines and calls it). The line is
 * modified in place. */
void xfw_handle_line(char *line, uint32_t len);

#endif
