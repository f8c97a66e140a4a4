#include "xfw_out.h"

#include <string.h>

#include "xfw.h"
#include "xfw_num.h"

static void flush(void) {
  if (xfw.tx_len) xfw_hal_link_write(xfw.tx, xfw.tx_len);
  xfw.tx_len = 0;
}

static void raw(const char *s, size_t n) {
  xfw.cnt.tx += (double)n;
  for (size_t i = 0; i < n; i++) {
    if (xfw.tx_len == sizeof xfw.tx) flush();
    xfw.tx[xfw.tx_len++] = (uint8_t)s[i];
  }
  if (!xfw.cap_over && xfw.cap_len + n <= sizeof xfw.cap) {
    memcpy(xfw.cap + xfw.cap_len, s, n);
    xfw.cap_len += (uint32_t)n;
  } else {
    xfw.cap_over = 1;
  }
}

void xfw_out_begin(void) {
  xfw.out_crc = 0;
  xfw.cap_len = 0;
  xfw.cap_over = 0;
  xfw.tx_len = 0;
}

void xfw_out_bytes(const char *s, size_t n) {
  xfw.out_crc = xfw_crc32_update(xfw.out_crc, s, n);
  raw(s, n);
}

void xfw_out_str(const char *s) { xfw_out_bytes(s, strlen(s)); }

static void key(const char *k) {
  xfw_out_bytes(" ", 1);
  xfw_out_str(k);
  xfw_out_bytes("=", 1);
}

void xfw_out_num(const char *k, double v) {
  char b[XFW_NUM_BUF];
  key(k);
  xfw_out_bytes(b, (size_t)xfw_num_format(v, b));
}

void xfw_out_uint(const char *k, uint32_t v) { xfw_out_num(k, (double)v); }

/* encodeURIComponent keeps A-Z a-z 0-9 - _ . ! ~ * ' ( ); encodeToken then escapes * = ! ' ( ) ~. */
static int token_safe(const char *s) {
  for (; *s; s++) {
    uint8_t c = (uint8_t)*s;
    if (c <= 0x20 || c > 0x7e || c == '*' || c == '=' || c == '%') return 0;
  }
  return 1;
}

void xfw_out_token(const char *k, const char *s) {
  key(k);
  if (token_safe(s)) return xfw_out_str(s);
  for (; *s; s++) {
    uint8_t c = (uint8_t)*s;
    int keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '_' || c == '.';
    if (keep) {
      xfw_out_bytes((const char *)&c, 1);
    } else {
      char e[3] = {'%', "0123456789ABCDEF"[c >> 4], "0123456789ABCDEF"[c & 15]};
      xfw_out_bytes(e, 3);
    }
  }
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void xfw_out_packed_begin(const char *k, xfw_ptype type) {
  key(k);
  xfw_out_str(xfw_ptype_name[type]);
  xfw_out_bytes(":", 1);
  xfw.b64_len = 0;
}

void xfw_out_quantised_begin(const char *k, xfw_ptype type, double scale) {
  char b[XFW_NUM_BUF];
  key(k);
  xfw_out_str(xfw_ptype_name[type]);
  xfw_out_bytes("@", 1);
  xfw_out_bytes(b, (size_t)xfw_num_format(scale, b));
  xfw_out_bytes(":", 1);
  xfw.b64_len = 0;
}

void xfw_out_byte(uint8_t b) {
  xfw.b64[xfw.b64_len++] = b;
  if (xfw.b64_len < 3) return;
  uint32_t v = (uint32_t)xfw.b64[0] << 16 | (uint32_t)xfw.b64[1] << 8 | xfw.b64[2];
  char o[4] = {B64[v >> 18], B64[(v >> 12) & 63], B64[(v >> 6) & 63], B64[v & 63]};
  xfw_out_bytes(o, 4);
  xfw.b64_len = 0;
}

void xfw_out_u32(uint32_t v) {
  for (int i = 0; i < 4; i++) xfw_out_byte((uint8_t)(v >> (8 * i)));
}

void xfw_out_f32(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  xfw_out_u32(u);
}

void xfw_out_packed_end(void) {
  if (xfw.b64_len == 0) return;
  uint32_t v = (uint32_t)xfw.b64[0] << 16 | (xfw.b64_len > 1 ? (uint32_t)xfw.b64[1] << 8 : 0);
  char o[4] = {B64[v >> 18], B64[(v >> 12) & 63], xfw.b64_len > 1 ? B64[(v >> 6) & 63] : '=', '='};
  xfw_out_bytes(o, 4);
  xfw.b64_len = 0;
}

void xfw_out_end(void) {
  char t[10];
  t[0] = '*';
  for (int i = 0; i < 8; i++) t[1 + i] = "0123456789abcdef"[(xfw.out_crc >> (28 - 4 * i)) & 15];
  t[9] = '\n';
  raw(t, 10);
  flush();
}

void xfw_out_message(const char *s) {
  for (; *s; s++) {
    char c = *s;
    if (c == '\r' || c == '\n' || c == '\t') c = ' ';
    else if ((uint8_t)c < 0x20 || (uint8_t)c > 0x7e) c = '?';
    xfw_out_bytes(&c, 1);
  }
}
