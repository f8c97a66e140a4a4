/* Packed arrays (PROTOCOL.md §2), as firmware-protocol/packed.ts: `type:base64` of a little-endian
 * typed array, and (1.1) quantised arrays `qtype@scale:base64`, integers standing for integer · scale. */
#ifndef XFW_PACKED_H
#define XFW_PACKED_H

#include <stddef.h>
#include <stdint.h>

/* Element types. XFW_I8 exists only quantised (the plain types are u8 u16 i16 u32 i32 f32 f64). */
typedef enum { XFW_U8, XFW_U16, XFW_I16, XFW_U32, XFW_I32, XFW_F32, XFW_F64, XFW_I8, XFW_NOT_PACKED } xfw_ptype;
extern const char *const xfw_ptype_name[];
extern const unsigned xfw_ptype_size[];

/* Whether a value looks packed, as isPacked (packed.ts HEAD_RE): a plain type, or a quantised type
 * with a scale in the number grammar, then ":". Such values are not percent-decoded. */
int xfw_is_packed(const char *val, size_t len);

/* A decoded packed array: bytes (little-endian elements, any alignment), element count, and the scale
 * of a quantised array (0 for a plain one). */
typedef struct {
  xfw_ptype type;
  const uint8_t *bytes;
  uint32_t n;
  double scale;
} xfw_packed;

/* Decodes a packed value in place as unpack (packed.ts) does. Returns NULL, or unpack's message. */
const char *xfw_packed_decode(char *val, size_t len, xfw_packed *out);
/* Element i as a double; for a quantised array the float32 value integer · scale (packed.ts dequantise). */
double xfw_packed_get(const xfw_packed *p, uint32_t i);

#endif
