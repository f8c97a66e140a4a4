/*
 * The 1.1 wire (PROTOCOL.md §6): quantised replies (q=1) and held vectors (OPU x=last), as the
 * emulator (mocks/board.ts dispatch, hold, heldInput; firmware-protocol/packed.ts quantise).
 */
#include <math.h>
#include <string.h>

#include "xfw_cmd.h"
#include "xfw_num.h"

int xfw_arg_q(const xfw_request *r, double *q) {
  const double zero = 0;
  return xfw_arg_int(r, "q", q, &zero);
}

int xfw_check_q(double q) {
  if (q == 1 && !xfw_hal_info()->adc_bits)
    return xfw_fail(XFW_BAD_ARGUMENT, "this board sends float32 only (no adc= in IDN): q=1 refused");
  return 0;
}

/* ---- quantised replies ---- */

void xfw_vals_begin(const char *key, int q, uint8_t *store) {
  xfw.qon = (uint8_t)(q != 0);
  xfw.qn = 0;
  xfw.qkey = key;
  xfw.qbuf = store;
  if (!q) xfw_out_packed_begin(key, XFW_F32);
}

void xfw_vals_put(float f) {
  if (!xfw.qon) return xfw_out_f32(f);
  memcpy(xfw.qbuf + (size_t)xfw.qn++ * 4, &f, 4);
}

static float stored(uint32_t i) {
  float f;
  memcpy(&f, xfw.qbuf + (size_t)i * 4, 4);
  return f;
}

/* quantise(values, bits): the smallest integer type that holds them, the largest magnitude at the
 * largest integer of `bits`; each value Math.round(v / scale), stored as the typed array stores it. */
void xfw_vals_end(void) {
  if (!xfw.qon) return xfw_out_packed_end();
  xfw.qon = 0;
  double max = 0;
  int neg = 0;
  for (uint32_t i = 0; i < xfw.qn; i++) {
    double v = stored(i);
    if (v < 0) neg = 1;
    if (fabs(v) > max) max = fabs(v);
  }
  unsigned b = xfw_hal_info()->adc_bits;
  double top = neg ? ldexp(1, (int)b - 1) - 1 : ldexp(1, (int)b) - 1;
  xfw_ptype type = b <= 8 ? (neg ? XFW_I8 : XFW_U8) : (neg ? XFW_I16 : XFW_U16);
  double scale = max > 0 && top > 0 ? max / top : 1;
  xfw_out_quantised_begin(xfw.qkey, type, scale);
  for (uint32_t i = 0; i < xfw.qn; i++) {
    double n = xfw_num_round(stored(i) / scale);
    uint32_t u = isfinite(n) ? (uint32_t)(int64_t)fmod(n, 65536.0) : 0; /* modulo 2^16, as ToUint16 */
    xfw_out_byte((uint8_t)u);
    if (xfw_ptype_size[type] == 2) xfw_out_byte((uint8_t)(u >> 8));
  }
  xfw_out_packed_end();
}

/* ---- held vectors ---- */

void xfw_held_clear(void) { xfw.held_n = 0; }

/* Where block i's values start in the pool (blocks lie one after the other, oldest first). */
static unsigned held_at(unsigned i) {
  unsigned at = 0;
  for (unsigned j = 0; j < i; j++) at += xfw.held_key[j].nr;
  return at;
}

static int held_find(unsigned r0, unsigned c0, unsigned nr, unsigned nc) {
  for (unsigned i = 0; i < xfw.held_n; i++) {
    const xfw_block_key *k = &xfw.held_key[i];
    if (k->r0 == r0 && k->c0 == c0 && k->nr == nr && k->nc == nc) return (int)i;
  }
  return -1;
}

static void held_drop(unsigned i) {
  unsigned at = held_at(i), n = xfw.held_key[i].nr, end = held_at(xfw.held_n);
  memmove(&xfw.held[at], &xfw.held[at + n], (end - at - n) * sizeof(float));
  memmove(&xfw.held_key[i], &xfw.held_key[i + 1], (xfw.held_n - i - 1) * sizeof xfw.held_key[0]);
  xfw.held_n--;
}

void xfw_held_put(unsigned r0, unsigned c0, unsigned nr, unsigned nc, const float *x) {
  if (!xfw_hal_info()->dac_bits) return;
  int found = held_find(r0, c0, nr, nc);
  if (found >= 0) held_drop((unsigned)found);
  if (!x || nr > XFW_HELD_FLOATS) return;
  while (xfw.held_n == XFW_HELD_BLOCKS || held_at(xfw.held_n) + nr > XFW_HELD_FLOATS) held_drop(0);
  unsigned at = held_at(xfw.held_n);
  memcpy(&xfw.held[at], x, nr * sizeof(float));
  xfw.held_key[xfw.held_n].r0 = (uint16_t)r0;
  xfw.held_key[xfw.held_n].c0 = (uint16_t)c0;
  xfw.held_key[xfw.held_n].nr = (uint16_t)nr;
  xfw.held_key[xfw.held_n].nc = (uint16_t)nc;
  xfw.held_n++;
}

int xfw_held_input(unsigned r0, unsigned c0, unsigned nr, unsigned nc, xfw_packed *out) {
  if (!xfw_hal_info()->dac_bits)
    return xfw_fail(XFW_BAD_ARGUMENT, "this board holds no vectors (no dac= in IDN): send x");
  int i = held_find(r0, c0, nr, nc);
  if (i < 0)
    return xfw_fail(XFW_BAD_ARGUMENT, "no VMM input held for block %ux%u at (%u, %u): send x", nr, nc, r0, c0);
  out->type = XFW_F32;
  out->bytes = (const uint8_t *)&xfw.held[held_at((unsigned)i)];
  out->n = nr;
  out->scale = 0;
  return 0;
}
