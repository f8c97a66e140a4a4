/* Writing replies and events: streamed to the link with the checksum computed on the way, a copy kept
 * for the replay window while it fits a slot. */
#ifndef XFW_OUT_H
#define XFW_OUT_H

#include <stddef.h>
#include <stdint.h>

#include "xfw_codec.h"

void xfw_out_begin(void);
void xfw_out_bytes(const char *s, size_t n);
void xfw_out_str(const char *s);
/* " key=" then the value */
void xfw_out_num(const char *key, double v);
void xfw_out_uint(const char *key, uint32_t v);
/* a token value, percent-encoded as encodeToken (firmware-protocol/message.ts) */
void xfw_out_token(const char *key, const char *s);
/* a packed array: begin, elements (little-endian bytes), end */
void xfw_out_packed_begin(const char *key, xfw_ptype type);
void xfw_out_f32(float f);
void xfw_out_u32(uint32_t v);
void xfw_out_byte(uint8_t b);
/* the head of a quantised array (1.1): " key=type@scale:" */
void xfw_out_quantised_begin(const char *key, xfw_ptype type, double scale);
void xfw_out_packed_end(void);
/* "*crc\n", sent */
void xfw_out_end(void);
/* Text of an ERR message as encodeErr writes it: CR, LF, TAB become spaces, other bytes outside
 * printable ASCII "?". */
void xfw_out_message(const char *s);

#endif
