/*
 * What the link received (PROTOCOL.md §3, Abort): bytes reach the framer in the order they arrived,
 * also those that arrive while a command runs. While a programming command or a WAIT runs, the HAL
 * calls xfw_poll_abort() between pulses; the core then moves what the link holds into its input queue
 * (bounded: XFW_PENDING bytes) and checks each line completed there for an ABORT request. The running
 * command stops at the next pulse boundary (ERR 401), and the queued lines, the ABORT among them, are
 * framed and executed after it, in order. As the emulator's session (mocks/session.ts): an ABORT stops
 * the command that was running when it arrived, never a later one.
 *
 *   xfw_feed(chunk) ─▶ [input queue] then [rest of chunk] ─▶ xfw_frame_byte ─▶ a command runs
 *                          ▲                   │                                    │
 *                          └── xfw_poll_abort ◀┴── xfw_hal_link_read ◀── HAL, between pulses
 */
#include <string.h>

#include "xfw.h"
#include "xfw_codec.h"

_Static_assert((XFW_PENDING & (XFW_PENDING - 1)) == 0 && XFW_PENDING >= 64,
               "XFW_PENDING must be a power of two (the queue's positions wrap at 2^32)");

#define AT(pos) (xfw.pending[(pos) & (XFW_PENDING - 1)])

void xfw_input_clear(void) {
  xfw.pend_head = xfw.pend_tail = xfw.scan_line = xfw.scan_pos = 0;
  xfw.chunk = NULL;
  xfw.chunk_len = 0;
  xfw.abort = 0;
}

void xfw_feed(const uint8_t *data, size_t len) {
  xfw.chunk = data;
  xfw.chunk_len = len;
  for (;;) {
    uint8_t b;
    if (xfw.pend_head != xfw.pend_tail) {
      b = AT(xfw.pend_head);
      xfw.pend_head++;
    } else if (xfw.chunk_len) {
      b = *xfw.chunk++;
      xfw.chunk_len--;
    } else {
      break;
    }
    xfw_frame_byte(b); /* may run a command, which may move the chunk's rest into the queue */
  }
  xfw.chunk = NULL;
}

/* Moves received bytes into the queue as far as it has room: the rest of the chunk being fed first
 * (those bytes came before anything the link still holds), then the link's. */
static void take_input(void) {
  while (xfw.chunk_len && xfw.pend_tail - xfw.pend_head < XFW_PENDING) {
    AT(xfw.pend_tail) = *xfw.chunk++;
    xfw.pend_tail++;
    xfw.chunk_len--;
  }
  while (!xfw.chunk_len) {
    uint32_t room = XFW_PENDING - (xfw.pend_tail - xfw.pend_head);
    uint32_t at = xfw.pend_tail & (XFW_PENDING - 1);
    uint32_t span = XFW_PENDING - at < room ? XFW_PENDING - at : room; /* contiguous up to the ring's end */
    if (span == 0) return;
    size_t n = xfw_hal_link_read(&xfw.pending[at], span);
    xfw.pend_tail += (uint32_t)n;
    if (n < span) return;
  }
}

/* Whether the queued line [start, end) (without its LF) is an ABORT request: it decodes (checksum, tag,
 * arguments) and its verb is ABORT. Decoded on a copy: the line stays queued for execution. */
static int is_abort(uint32_t start, uint32_t end) {
  uint32_t len = end - start;
  if (len < 7 || len > XFW_ABORT_LINE_MAX) return 0;
  char copy[XFW_ABORT_LINE_MAX + 1];
  for (uint32_t i = 0; i < len; i++) copy[i] = (char)AT(start + i);
  copy[len] = 0;
  if (!strstr(copy, " ABORT")) return 0; /* the common case, before any checksum */
  xfw_request req;
  xfw_decoded d;
  xfw_decode_line(copy, len, XFW_MAX_LINE, xfw.minor, &req, &d);
  return d.code == 0 && strcmp(req.verb, "ABORT") == 0;
}

int xfw_poll_abort(void) {
  take_input();
  /* Lines before the queue's head were framed already; the running command's line ended at a line
   * boundary, so the head (when the scan lags behind it) starts a line. */
  if ((int32_t)(xfw.scan_line - xfw.pend_head) < 0) xfw.scan_line = xfw.scan_pos = xfw.pend_head;
  while (xfw.scan_pos != xfw.pend_tail) {
    uint8_t b = AT(xfw.scan_pos);
    xfw.scan_pos++;
    if (b != '\n') continue;
    if (is_abort(xfw.scan_line, xfw.scan_pos - 1)) xfw.abort = 1;
    xfw.scan_line = xfw.scan_pos;
  }
  return xfw.abort;
}
