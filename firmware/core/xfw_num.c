/*
 * JavaScript number text in C: Number.prototype.toString (ECMA-262 Number::toString, radix 10) from
 * the shortest precision that round-trips through strtod, and the protocol's number grammar.
 * Needs only snprintf/strtod with double support (newlib's full printf on the MCU build).
 */
#include "xfw_num.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int put(char *out, int at, const char *s) {
  size_t n = strlen(s);
  memcpy(out + at, s, n);
  return at + (int)n;
}

int xfw_num_format(double x, char *out) {
  int at = 0;
  if (isnan(x)) {
    at = put(out, 0, "NaN");
    out[at] = 0;
    return at;
  }
  if (x == 0) {
    out[0] = '0';
    out[1] = 0;
    return 1;
  }
  if (x < 0) {
    out[at++] = '-';
    x = -x;
  }
  if (isinf(x)) {
    at = put(out, at, "Infinity");
    out[at] = 0;
    return at;
  }
  char buf[40];
  int p;
  for (p = 1; p <= 17; p++) {
    snprintf(buf, sizeof buf, "%.*e", p - 1, x);
    if (strtod(buf, NULL) == x) break;
  }
  /* buf = d[.ddd]e±XX */
  char digits[24];
  int k = 0;
  const char *s = buf;
  for (; *s && *s != 'e'; s++)
    if (*s != '.') digits[k++] = *s;
  while (k > 1 && digits[k - 1] == '0') k--;
  int e = atoi(s + 1);
  int n = e + 1;
  if (k <= n && n <= 21) {
    memcpy(out + at, digits, (size_t)k);
    at += k;
    for (int i = 0; i < n - k; i++) out[at++] = '0';
  } else if (0 < n && n <= 21) {
    memcpy(out + at, digits, (size_t)n);
    at += n;
    out[at++] = '.';
    memcpy(out + at, digits + n, (size_t)(k - n));
    at += k - n;
  } else if (-6 < n && n <= 0) {
    out[at++] = '0';
    out[at++] = '.';
    for (int i = 0; i < -n; i++) out[at++] = '0';
    memcpy(out + at, digits, (size_t)k);
    at += k;
  } else {
    out[at++] = digits[0];
    if (k > 1) {
      out[at++] = '.';
      memcpy(out + at, digits + 1, (size_t)(k - 1));
      at += k - 1;
    }
    at += snprintf(out + at, 8, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
  }
  out[at] = 0;
  return at;
}

int xfw_num_format6(double x, char *out) {
  if (!isfinite(x)) return xfw_num_format(x, out);
  char buf[40];
  snprintf(buf, sizeof buf, "%.5e", x);
  return xfw_num_format(strtod(buf, NULL), out);
}

static const char *digits1(const char *s) {
  if (*s < '0' || *s > '9') return NULL;
  while (*s >= '0' && *s <= '9') s++;
  return s;
}

const char *xfw_num_scan(const char *s) {
  const char *p = s;
  if (*p == '-') p++;
  if (*p == '0') {
    p++;
  } else if (*p >= '1' && *p <= '9') {
    p = digits1(p);
  } else {
    return NULL;
  }
  if (*p == '.') {
    p = digits1(p + 1);
    if (!p) return NULL;
  }
  if (*p == 'e') {
    p++;
    if (*p == '-' || *p == '+') p++;
    p = digits1(p);
  }
  return p;
}

int xfw_num_parse(const char *s, double *out) {
  const char *end = xfw_num_scan(s);
  if (!end || *end) return 0;
  *out = strtod(s, NULL);
  return 1;
}

double xfw_num_round(double x) {
  if (!isfinite(x)) return x;
  double f = floor(x);
  return x - f >= 0.5 ? f + 1 : f;
}
