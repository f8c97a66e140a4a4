/* The wire codec of the firmware (PROTOCOL.md §1-2): CRC-32, base64 packed arrays, tokens, lines. */
#ifndef XFW_CODEC_H
#define XFW_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "xfw.h"

uint32_t xfw_crc32_update(uint32_t crc, const void *data, size_t len);
uint32_t xfw_crc32(const void *data, size_t len);

/* Packed array types (PROTOCOL.md §2). */
typedef enum { XFW_U8, XFW_U16, XFW_I16, XFW_U32, XFW_I32, XFW_F32, XFW_F64, XFW_NOT_PACKED } xfw_ptype;
extern const char *const xfw_ptype_name[];
extern const unsigned xfw_ptype_size[];

/* The type of a value that looks packed ("u16:..."), else XFW_NOT_PACKED. */
xfw_ptype xfw_packed_type(const char *val, size_t len);

/* A decoded packed array: bytes (little-endian elements, any alignment) and element count. */
typedef struct {
  xfw_ptype type;
  const uint8_t *bytes;
  uint32_t n;
} xfw_packed;

/* Decodes the base64 of a packed value in place. Returns NULL, or a message naming the problem. */
const char *xfw_packed_decode(char *val, size_t len, xfw_packed *out);
/* Element i as a double. */
double xfw_packed_get(const xfw_packed *p, uint32_t i);

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
