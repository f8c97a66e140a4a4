/*
 * The C codec and core against firmware-protocol/vectors.json (PROTOCOL.md §7):
 *  1. codec: every line of the file has the right CRC-32 (but the request whose checksum is wrong on
 *     purpose), every request decodes, every packed value of a reply decodes and re-encodes to the same
 *     base64;
 *  3. framer: a line of maxline bytes is decoded, one byte longer is 103, a lone CAN is 102 (1.1);
 *  2. core: the requests, in order, to a fresh core on the host HAL configured as the file says
 *     (8 x 8, linear, seed 1) give the replies byte for byte; in the IDN reply the identity of the
 *     board (model=, serial=) and the checksum differ by design and are compared without them.
 *
 *   xfw-vectors [PATH]   (default ../firmware-protocol/vectors.json); exit 0 when everything holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "../core/xfw.h"
#include "../core/xfw_codec.h"
#include "../core/xfw_out.h"

int hal_host_start(unsigned rows, unsigned cols, const char *device, int32_t seed);
extern int hal_link_fd;

#define MAXV 64
static char *requests[MAXV];
static char *names[MAXV];
static char *replies[MAXV][4];
static int nreplies[MAXV];
static int nvec;
static int failures;

/* ---- a JSON string scanner, enough for vectors.json ---- */
static char *json_string(const char **p) {
  const char *s = strchr(*p, '"');
  if (!s) return NULL;
  s++;
  char *out = malloc(strlen(s) + 1), *o = out;
  while (*s && *s != '"') {
    if (*s == '\\') {
      s++;
      switch (*s) {
        case 'n': *o++ = '\n'; break;
        case 't': *o++ = '\t'; break;
        case 'r': *o++ = '\r'; break;
        case 'u': {
          unsigned v;
          sscanf(s + 1, "%4x", &v);
          *o++ = (char)v;
          s += 4;
          break;
        }
        default: *o++ = *s;
      }
      s++;
    } else {
      *o++ = *s++;
    }
  }
  *o = 0;
  *p = s + 1;
  return out;
}

static void load(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "xfw-vectors: cannot open %s\n", path);
    exit(2);
  }
  static char text[1 << 20];
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = 0;
  const char *p = text;
  while ((p = strstr(p, "\"name\":")) && nvec < MAXV) {
    p += 7;
    names[nvec] = json_string(&p);
    p = strstr(p, "\"request\":") + 10;
    requests[nvec] = json_string(&p);
    p = strstr(p, "\"replies\":") + 10;
    const char *end = strchr(p, ']');
    while (nreplies[nvec] < 4) {
      const char *q = strchr(p, '"');
      if (!q || q > end) break;
      replies[nvec][nreplies[nvec]++] = json_string(&p);
    }
    nvec++;
  }
}

static void fail(const char *what, const char *name, const char *detail) {
  failures++;
  fprintf(stderr, "FAIL %s [%s]: %s\n", what, name, detail);
}

/* ---- 1. codec ---- */
static void check_crc(const char *name, const char *line, int expect_ok) {
  const char *star = strrchr(line, '*');
  char want[9];
  snprintf(want, sizeof want, "%08x", (unsigned)xfw_crc32(line, (size_t)(star - line)));
  if ((strncmp(star + 1, want, 8) == 0) != expect_ok) fail("crc", name, line);
}

static void check_packed_roundtrip(const char *name, const char *line) {
  const char *p = line;
  while ((p = strstr(p, "=f32:"))) {
    p++;
    size_t n = strcspn(p, " *");
    char buf[4096];
    memcpy(buf, p, n);
    buf[n] = 0;
    xfw_packed pk;
    const char *err = xfw_packed_decode(buf, n, &pk);
    if (err) return fail("packed decode", name, err);
    /* re-encode through the writer and compare */
    static char out[4096];
    size_t at = 0;
    xfw_out_begin();
    xfw_out_packed_begin("x", pk.type);
    for (uint32_t i = 0; i < pk.n; i++) {
      double v = xfw_packed_get(&pk, i);
      xfw_out_f32((float)v);
    }
    xfw_out_packed_end();
    if (xfw.cap_over) return fail("packed re-encode", name, "longer than a replay slot");
    memcpy(out, xfw.cap, xfw.cap_len);
    at = xfw.cap_len;
    out[at] = 0;
    if (strncmp(out + 3, p, n) != 0) fail("packed re-encode", name, p);
    p += n;
  }
}

/* ---- 2. core: replies captured from the link ---- */
static char got[1 << 16];
static size_t got_len;

static int sink[2];

/* Masks the values of model= and serial= and the checksum of an IDN reply, and in a STAT reply tx=
 * (the bytes sent include the IDN reply, whose identity is longer here: XFW-HOST, not EMU-1). */
static void mask_identity(char *s) {
  const char *keys[] = {" model=", " serial=", " tx="};
  for (int k = 0; k < 3; k++) {
    char *p = strstr(s, keys[k]);
    if (!p) continue;
    p += strlen(keys[k]);
    char *e = p + strcspn(p, " *");
    memmove(p, e, strlen(e) + 1);
  }
  char *star = strrchr(s, '*');
  if (star) strcpy(star, "*\n");
}

int main(int argc, char **argv) {
  load(argc > 1 ? argv[1] : "../firmware-protocol/vectors.json");
  /* The protocol revision the vectors were made with: the minor= of the board's HELLO reply (absent in
   * 1.0), so the core answers as that board did. */
  unsigned minor = 0;
  for (int i = 0; i < nvec; i++) {
    const char *m = strstr(requests[i], " HELLO") && nreplies[i] ? strstr(replies[i][0], " minor=") : NULL;
    if (m) {
      minor = (unsigned)atoi(m + 7);
      break;
    }
  }
  hal_link_fd = open("/dev/null", O_WRONLY); /* what the codec checks write through the link */
  int lines = 0;
  for (int i = 0; i < nvec; i++) {
    int bad = strncmp(names[i], "bad checksum", 12) == 0;
    /* 1.1 vectors of malformed requests with a right checksum: decoded to a tagged 102 */
    size_t nl = strlen(names[i]);
    int malformed = nl > 5 && strcmp(names[i] + nl - 5, "(102)") == 0;
    char line[4096];
    size_t n = strlen(requests[i]) - 1; /* without LF */
    check_crc(names[i], requests[i], !bad);
    memcpy(line, requests[i], n);
    xfw_request req;
    xfw_decoded d;
    xfw_decode_line(line, (uint32_t)n, XFW_MAX_LINE, minor, &req, &d);
    int want = bad ? XFW_BAD_CHECKSUM : malformed ? XFW_MALFORMED : 0;
    if (d.code != want || (malformed && !d.has_tag)) fail("decode", names[i], d.reason ? d.reason : "decoded");
    lines++;
    for (int j = 0; j < nreplies[i]; j++) {
      check_crc(names[i], replies[i][j], 1);
      check_packed_roundtrip(names[i], replies[i][j]);
      lines++;
    }
  }
  printf("codec: %d lines checked\n", lines);

  /* core: the whole request sequence through one session */
  if (pipe(sink) != 0) return 2;
  hal_link_fd = sink[1];
  hal_host_start(8, 8, "linear", 1);
  xfw_init(minor);
  int same = 0;
  for (int i = 0; i < nvec; i++) {
    char want[4096] = "";
    for (int j = 0; j < nreplies[i]; j++) strcat(want, replies[i][j]);
    xfw_feed((const uint8_t *)requests[i], strlen(requests[i]));
    ssize_t n = read(sink[0], got, sizeof got - 1);
    got_len = n > 0 ? (size_t)n : 0;
    got[got_len] = 0;
    if (strstr(requests[i], " IDN*") || strstr(requests[i], " STAT")) {
      mask_identity(want);
      mask_identity(got);
    }
    if (strcmp(want, got) != 0) {
      static char detail[sizeof got + 8200];
      snprintf(detail, sizeof detail, "\n  want %s  got  %s", want, got);
      fail("reply", names[i], detail);
    } else {
      same++;
    }
  }
  printf("core: %d of %d vectors answered byte for byte (IDN without model/serial, STAT without tx), as protocol 1.%u\n", same,
         nvec, minor);

  /* 3. framer: a line of maxline bytes (LF included) is decoded (here: 101, its checksum is wrong), one
   * byte more is discarded as over-long (103) without being buffered, a lone CAN is noise (102 in
   * 1.1), and the link is in step afterwards. */
  static uint8_t big[XFW_MAX_LINE + 2];
  xfw_init(XFW_PROTOCOL_MINOR); /* the framer as this firmware runs by default */
  struct {
    size_t content;
    uint8_t fill;
    const char *want;
  } cases[] = {
      {XFW_MAX_LINE - 1, 'A', "! REJECT code=101 "},
      {XFW_MAX_LINE, 'A', "! REJECT code=103 "},
      {1, 0x18, XFW_PROTOCOL_MINOR ? "! REJECT code=102 " : "! REJECT code=103 "},
  };
  int framed = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memset(big, cases[i].fill, cases[i].content);
    big[cases[i].content] = '\n';
    xfw_feed(big, cases[i].content + 1);
    const char *ping = "77 NOP*7d00ffea\n";
    xfw_feed((const uint8_t *)ping, strlen(ping));
    ssize_t n = read(sink[0], got, sizeof got - 1);
    got[n > 0 ? n : 0] = 0;
    char *second = strchr(got, '\n');
    if (strncmp(got, cases[i].want, strlen(cases[i].want)) != 0 || !second || strncmp(second + 1, "77 OK", 5) != 0)
      fail("framer", cases[i].want, got);
    else
      framed++;
  }
  printf("framer: %d of 3 line-length cases as expected (maxline %u, protocol 1.%d)\n", framed,
         (unsigned)XFW_MAX_LINE, XFW_PROTOCOL_MINOR);
  return failures ? 1 : 0;
}
