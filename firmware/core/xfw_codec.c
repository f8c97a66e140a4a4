/*
 * The wire codec (PROTOCOL.md §1-2), mirroring firmware-protocol/message.ts and packed.ts: CRC-32,
 * packed arrays (base64 decoded in place), percent-decoding, and the decoding of one line into a
 * request whose keys and values point into the line buffer (NUL-terminated there).
 */
#include "xfw_codec.h"

#include <stdio.h>
#include <string.h>

/* CRC-32 (IEEE 802.3, reflected 0xEDB88320), a nibble at a time: a 64-byte table. */
static const uint32_t crc_nibble[16] = {
    0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
    0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c, 0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c};

uint32_t xfw_crc32_update(uint32_t crc, const void *data, size_t len) {
  const uint8_t *p = data;
  crc = ~crc;
  for (size_t i = 0; i < len; i++) {
    crc ^= p[i];
    crc = (crc >> 4) ^ crc_nibble[crc & 15];
    crc = (crc >> 4) ^ crc_nibble[crc & 15];
  }
  return ~crc;
}

uint32_t xfw_crc32(const void *data, size_t len) { return xfw_crc32_update(0, data, len); }

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int escape_at(const char *s, size_t len, size_t i) {
  if (i + 3 > len || s[i] != '%') return -1;
  int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
  return h < 0 || l < 0 ? -1 : h * 16 + l;
}

long xfw_percent_decode(char *s, size_t len) {
  size_t r = 0, w = 0;
  while (r < len) {
    if (s[r] != '%') {
      s[w++] = s[r++];
      continue;
    }
    int b = escape_at(s, len, r);
    if (b < 0) return -1;
    r += 3;
    if (b < 0x80) {
      s[w++] = (char)b;
      continue;
    }
    /* UTF-8 sequence as decodeURIComponent checks it: lead byte, continuations, no overlong form,
     * no surrogate, at most U+10FFFF. */
    int n = 0;
    while (n < 8 && (b & (0x80 >> n))) n++;
    if (n == 1 || n > 4) return -1;
    uint32_t cp = (uint32_t)b & (0xFFu >> (n + 1));
    uint8_t seq[4] = {(uint8_t)b};
    for (int k = 1; k < n; k++) {
      int c = escape_at(s, len, r);
      if (c < 0 || (c & 0xC0) != 0x80) return -1;
      r += 3;
      cp = (cp << 6) | ((uint32_t)c & 0x3F);
      seq[k] = (uint8_t)c;
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
    for (int k = 0; k < n; k++) s[w++] = (char)seq[k];
  }
  return (long)w;
}

/* ---- lines ---- */

static int is_upper_word(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] < 'A' || s[i] > 'Z') return 0;
  return 1;
}

static int is_key(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9'))) return 0;
  return 1;
}

static void discard(xfw_decoded *d, int code, const char *reason) {
  d->code = code;
  d->reason = reason;
}

/* "<prefix>"<quoted, at most max chars>"<suffix>" into d->detail. */
static void discard_quoting(xfw_decoded *d, const char *prefix, const char *q, size_t n, size_t max,
                            const char *suffix) {
  if (n > max) n = max;
  snprintf(d->detail, sizeof d->detail, "%s\"%.*s\"%s", prefix, (int)n, q, suffix);
  discard(d, XFW_MALFORMED, d->detail);
}

/* Splits the arguments after the verb ("k=v k=v"), as parseArgs; returns 0 when they are fine. */
static int parse_args(char *p, char *end, xfw_request *req, xfw_decoded *d) {
  req->nargs = 0;
  while (p <= end) {
    char *sp = memchr(p, ' ', (size_t)(end - p));
    char *stop = sp ? sp : end;
    size_t n = (size_t)(stop - p);
    char *eq = memchr(p, '=', n);
    if (!eq || eq == p) {
      discard_quoting(d, "argument ", p, n, 20, " is not key=value");
      return 1;
    }
    size_t kl = (size_t)(eq - p);
    if (!is_key(p, kl)) {
      discard_quoting(d, "bad key ", p, kl, 20, "");
      return 1;
    }
    for (unsigned i = 0; i < req->nargs; i++) {
      if (req->args[i].klen == kl && memcmp(req->args[i].key, p, kl) == 0) {
        discard_quoting(d, "key ", p, kl, 24, " given twice");
        return 1;
      }
    }
    char *val = eq + 1;
    size_t vl = (size_t)(stop - val);
    if (vl == 0) {
      discard_quoting(d, "key ", p, kl, 24, " has no value");
      return 1;
    }
    if (req->nargs == XFW_MAX_ARGS) {
      discard(d, XFW_MALFORMED, "too many arguments");
      return 1;
    }
    if (memchr(val, '%', vl) && !xfw_is_packed(val, vl)) {
      long m = xfw_percent_decode(val, vl);
      if (m < 0) {
        discard_quoting(d, "key ", p, kl, 24, " has a bad percent-escape");
        return 1;
      }
      vl = (size_t)m;
    }
    val[vl] = 0;
    *eq = 0;
    xfw_arg *a = &req->args[req->nargs++];
    a->key = p;
    a->klen = (uint16_t)kl;
    a->val = val;
    a->vlen = (uint32_t)vl;
    if (!sp) break;
    p = sp + 1;
  }
  return 0;
}

static int hexdigit_lc(uint32_t v) { return "0123456789abcdef"[v & 15]; }

void xfw_decode_line(char *line, uint32_t len, uint32_t maxline, unsigned minor, xfw_request *req,
                     xfw_decoded *d) {
  d->code = 0;
  d->has_tag = 0;
  d->reason = NULL;
  static char toolong[48];
  /* The framer reports over-long lines itself (xfw_feed); 1.0 also took a line ending in CAN, the
   * emulator's marker, for one. In 1.1 a CAN byte is noise like any other (102 below). */
  if ((minor == 0 && len > 0 && line[len - 1] == 0x18) || len + 1 > maxline) {
    snprintf(toolong, sizeof toolong, "line longer than %u bytes", (unsigned)maxline);
    return discard(d, XFW_LINE_TOO_LONG, toolong);
  }
  if (len > 0 && line[len - 1] == '\r') len--;
  for (uint32_t i = 0; i < len; i++)
    if ((uint8_t)line[i] < 0x20 || (uint8_t)line[i] > 0x7e)
      return discard(d, XFW_MALFORMED, "non-printable or non-ASCII byte in line");
  char *star = NULL;
  for (uint32_t i = len; i > 0; i--)
    if (line[i - 1] == '*') {
      star = line + i - 1;
      break;
    }
  if (!star) return discard(d, XFW_BAD_CHECKSUM, "no checksum");
  uint32_t blen = (uint32_t)(star - line);
  uint32_t crc = xfw_crc32(line, blen);
  int good = (line + len) - (star + 1) == 8;
  for (int i = 0; good && i < 8; i++) good = star[1 + i] == hexdigit_lc(crc >> (28 - 4 * i));
  if (!good) return discard(d, XFW_BAD_CHECKSUM, "checksum mismatch");
  req->crc = crc;
  *star = 0;
  char *end = star;
  char *sp = memchr(line, ' ', blen);
  char *head_end = sp ? sp : end;
  size_t hl = (size_t)(head_end - line);
  char *verb = sp ? sp + 1 : end;
  char *vsp = sp ? memchr(verb, ' ', (size_t)(end - verb)) : NULL;
  size_t vl = (size_t)((vsp ? vsp : end) - verb);
  if (hl == 1 && line[0] == '!') {
    if (!is_upper_word(verb, vl)) return discard(d, XFW_MALFORMED, "bad event name");
    if (vsp && parse_args(vsp + 1, end, req, d)) return;
    return discard(d, XFW_MALFORMED, "a board accepts requests only");
  }
  int tag_ok = hl >= 1 && hl <= 5 && !(hl > 1 && line[0] == '0');
  uint32_t tag = 0;
  for (size_t i = 0; tag_ok && i < hl; i++) {
    if (line[i] < '0' || line[i] > '9') tag_ok = 0;
    else tag = tag * 10 + (uint32_t)(line[i] - '0');
  }
  if (!tag_ok || tag > 65535) return discard(d, XFW_BAD_TAG, "tag missing or out of range");
  req->tag = tag;
  d->has_tag = 1;
  if (vl == 3 && memcmp(verb, "ERR", 3) == 0) {
    char *code = vsp ? vsp + 1 : end;
    char *cend = memchr(code, ' ', (size_t)(end - code));
    size_t cl = (size_t)((cend ? cend : end) - code);
    int digits = cl > 0;
    for (size_t i = 0; digits && i < cl; i++) digits = code[i] >= '0' && code[i] <= '9';
    if (digits) d->has_tag = 0; /* an ERR reply, well formed: not a request at all */
    return discard(d, XFW_MALFORMED, digits ? "a board accepts requests only" : "ERR without a numeric code");
  }
  if (!is_upper_word(verb, vl)) return discard(d, XFW_MALFORMED, "missing or bad verb");
  req->nargs = 0;
  if (vsp && parse_args(vsp + 1, end, req, d)) return;
  if (vl == 2 && memcmp(verb, "OK", 2) == 0) {
    d->has_tag = 0; /* an OK reply, well formed: not a request at all */
    return discard(d, XFW_MALFORMED, "a board accepts requests only");
  }
  verb[vl] = 0;
  req->verb = verb;
  req->vlen = (unsigned)vl;
}
