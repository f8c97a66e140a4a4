/* Numbers as the protocol writes and reads them (PROTOCOL.md §2: "as JavaScript writes them"). */
#ifndef XFW_NUM_H
#define XFW_NUM_H

#include <stddef.h>

#define XFW_NUM_BUF 32

/* Writes x as JavaScript's Number.prototype.toString does (shortest round-trip digits); returns the
 * length. `out` holds at least XFW_NUM_BUF bytes. */
int xfw_num_format(double x, char *out);
/* Number(x.toPrecision(6)).toString(): how envelope messages print limits and values. */
int xfw_num_format6(double x, char *out);
/* Parses a NUL-terminated protocol number (-?(0|[1-9][0-9]*)(\.[0-9]+)?(e[-+]?[0-9]+)?); returns 0
 * when it is not one. */
int xfw_num_parse(const char *s, double *out);
/* The end of the number that starts s (the grammar above), or NULL when none does. */
const char *xfw_num_scan(const char *s);
/* JavaScript's Math.round. */
double xfw_num_round(double x);

#endif
