/* The wire codec of the firmware (PROTOCOL.md §1-2): CRC-32, tokens, lines (packed arrays: xfw_packed.h). */
#ifndef XFW_CODEC_H
#define XFW_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "xfw.h"
#include "xfw_packed.h"

uint32_t xfw_crc32_update(uint32_t crc, const void *data, size_t len);
uint32_t xfw_crc32(const void *data, size_t len);

/* Percent-decodes a token in place as JavaScript's decodeURIComponent would (UTF-8 checked);
 * returns the new length, or -1 for a bad escape. */
long xfw_percent_decode(char *s, size_t len);

/* Decoding of one received line (without LF), as firmware-protocol/message.ts decodeLine. */
typedef struct {
  int code;            /* 0 = a request, in `req`; else the discard code (101-104) */
  int has_tag;         /* the checksum was right and req->tag could be read */
  const char *reason;  /* why it was discarded */
  char detail[96];     /* a reason that quotes the line (bad key "..."), when `reason` points here */
} xfw_decoded;

/* minor: 0 decodes as protocol 1.0 did (a line ending in CAN, the old over-long marker, is 103). */
void xfw_decode_line(char *line, uint32_t len, uint32_t maxline, unsigned minor, xfw_request *req,
                     xfw_decoded *d);

#endif
