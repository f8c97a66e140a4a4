/*
 * Packed arrays (PROTOCOL.md §2), mirroring firmware-protocol/packed.ts: the head (`f32:`, and in 1.1
 * `i8@0.0125:`), base64 decoded in place, elements read as doubles. The messages are unpack's.
 */
#include "xfw_packed.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xfw_num.h"

const char *const xfw_ptype_name[] = {"u8", "u16", "i16", "u32", "i32", "f32", "f64", "i8"};
const unsigned xfw_ptype_size[] = {1, 2, 2, 4, 4, 4, 8, 1};

/* The type named by val[0..n), among the plain types or (scaled) the quantised ones, else XFW_NOT_PACKED. */
static xfw_ptype type_named(const char *val, size_t n, int scaled) {
  static const xfw_ptype plain[] = {XFW_U8, XFW_U16, XFW_I16, XFW_U32, XFW_I32, XFW_F32, XFW_F64};
  static const xfw_ptype quantised[] = {XFW_U8, XFW_I8, XFW_U16, XFW_I16};
  const xfw_ptype *t = scaled ? quantised : plain;
  size_t count = scaled ? 4 : 7;
  for (size_t i = 0; i < count; i++)
    if (strlen(xfw_ptype_name[t[i]]) == n && memcmp(val, xfw_ptype_name[t[i]], n) == 0) return t[i];
  return XFW_NOT_PACKED;
}

/* The positions of the first ':' and of the first '@' when it comes before it (else NULL). */
static void head(const char *val, size_t len, const char **colon, const char **at) {
  *colon = memchr(val, ':', len);
  *at = *colon ? memchr(val, '@', (size_t)(*colon - val)) : NULL;
  if (*at == val) *at = NULL;
}

int xfw_is_packed(const char *val, size_t len) {
  const char *colon, *at;
  head(val, len, &colon, &at);
  if (!colon) return 0;
  if (type_named(val, (size_t)(colon - val), 0) != XFW_NOT_PACKED) return 1;
  if (!at || type_named(val, (size_t)(at - val), 1) == XFW_NOT_PACKED) return 0;
  return xfw_num_scan(at + 1) == colon;
}

static int b64val(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* Decodes n characters of base64 at b into o (which may be b itself); returns the bytes, or -1. */
static long b64_decode(const char *b, size_t n, uint8_t *o) {
  size_t pad = 0;
  while (pad < 2 && pad < n && b[n - 1 - pad] == '=') pad++;
  if (n % 4 != 0) return -1;
  for (size_t i = 0; i < n - pad; i++)
    if (b64val(b[i]) < 0) return -1;
  size_t bytes = n / 4 * 3 - pad, w = 0;
  for (size_t i = 0; i < n; i += 4) {
    uint32_t v = 0;
    for (int j = 0; j < 4; j++) v = (v << 6) | (uint32_t)(b[i + j] == '=' ? 0 : b64val(b[i + j]));
    uint8_t three[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    for (int j = 0; j < 3 && w < bytes; j++) o[w++] = three[j];
  }
  return (long)bytes;
}

/* The scale of a quantised head (the text between '@' and ':'), or NaN when it is not a number. */
static double scale_of(const char *at, const char *colon) {
  return xfw_num_scan(at + 1) == colon ? strtod(at + 1, NULL) : NAN;
}

const char *xfw_packed_decode(char *val, size_t len, xfw_packed *out) {
  static char msg[96];
  const char *colon, *at;
  head(val, len, &colon, &at);
  xfw_ptype t = colon ? type_named(val, (size_t)((at ? at : colon) - val), at != NULL) : XFW_NOT_PACKED;
  if (t == XFW_NOT_PACKED || colon == val) {
    snprintf(msg, sizeof msg, "not a packed array: %.16s", val);
    return msg;
  }
  double scale = 0;
  if (at) {
    scale = scale_of(at, colon);
    if (!(isfinite(scale) && scale > 0)) return "the scale of a quantised array must be a positive number";
  }
  size_t tl = (size_t)(colon - val) + 1;
  long bytes = b64_decode(val + tl, len - tl, (uint8_t *)val);
  if (bytes < 0) return "packed array is not valid base64";
  if ((size_t)bytes % xfw_ptype_size[t] != 0) {
    snprintf(msg, sizeof msg, "packed %s array has %ld bytes, not a multiple of %u", xfw_ptype_name[t], bytes,
             xfw_ptype_size[t]);
    return msg;
  }
  out->type = t;
  out->bytes = (const uint8_t *)val;
  out->n = (uint32_t)((size_t)bytes / xfw_ptype_size[t]);
  out->scale = scale;
  return NULL;
}

static double element(const xfw_packed *p, uint32_t i) {
  unsigned s = xfw_ptype_size[p->type];
  const uint8_t *b = p->bytes + (size_t)i * s;
  uint64_t u = 0;
  for (unsigned k = 0; k < s; k++) u |= (uint64_t)b[k] << (8 * k);
  switch (p->type) {
    case XFW_I8:
      return (double)(int8_t)(uint8_t)u;
    case XFW_I16:
      return (double)(int16_t)(uint16_t)u;
    case XFW_I32:
      return (double)(int32_t)(uint32_t)u;
    case XFW_F32: {
      uint32_t w = (uint32_t)u;
      float f;
      memcpy(&f, &w, 4);
      return f;
    }
    case XFW_F64: {
      double d;
      memcpy(&d, &u, 8);
      return d;
    }
    default:
      return (double)u;
  }
}

double xfw_packed_get(const xfw_packed *p, uint32_t i) {
  double v = element(p, i);
  return p->scale > 0 ? (double)(float)(v * p->scale) : v;
}
