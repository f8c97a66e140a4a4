/* Read-type commands (PROTOCOL.md §6): READ READROW READCOL READBLK READALL VMM VMMT. Replies stream
 * their packed data to the link row by row, so no reply buffer is needed (xfw_out.c); a q=1 reply
 * (1.1) collects its values in the line buffer, which the request no longer needs, to quantise them
 * (xfw_wire.c). Checks run in the order of the emulator's: every argument parsed, then the table's
 * ranges, the address, packed lengths, the envelope, q=1, and what the handler checks. */
#include <string.h>

#include "xfw_cmd.h"

void xfw_read_block(unsigned r0, unsigned c0, unsigned nr, unsigned nc, int stream, double *one) {
  const xfw_cfg *c = &xfw.cfg;
  double gsum = 0;
  for (unsigned i = 0; i < nr; i++) {
    xfw_hal_read_row(r0 + i, c0, nc, c->vread, c->tread, c->scheme, xfw.row);
    for (unsigned j = 0; j < nc; j++) {
      double g = xfw.row[j];
      if (stream) xfw_vals_put((float)g);
      else *one = (float)g;
      gsum += g;
    }
  }
  xfw.cnt.energy += c->vread * c->vread * gsum * c->tread;
  xfw.cnt.reads += (double)nr * nc;
  xfw_hal_elapse((double)nr * nc * c->tread);
}

static void reply_block(unsigned r0, unsigned c0, unsigned nr, unsigned nc, double q) {
  xfw_vals_begin("data", q == 1, (uint8_t *)xfw.line);
  xfw_read_block(r0, c0, nr, nc, 1, NULL);
  xfw_vals_end();
}

int xfw_cmd_read(const xfw_request *r) {
  double row, col, g;
  TRY(xfw_arg_int(r, "r", &row, NULL));
  TRY(xfw_arg_int(r, "c", &col, NULL));
  TRY(xfw_check_address(row, col, 1, 1));
  xfw_read_block((unsigned)row, (unsigned)col, 1, 1, 0, &g);
  xfw_ok();
  xfw_out_num("g", g);
  return 0;
}

/* A block read's checks after parsing: q's range, the address, q=1, the reply size. */
static int read_checks(const double b[4], double q) {
  TRY(xfw_check_range("q", q, 0, 1, 0, NULL));
  TRY(xfw_check_address(b[0], b[1], b[2], b[3]));
  TRY(xfw_check_q(q));
  return xfw_check_reply_size(b[2] * b[3] * 4);
}

int xfw_cmd_readrow(const xfw_request *r) {
  double b[4] = {0, 0, 1, xfw_hal_info()->cols}, q;
  TRY(xfw_arg_int(r, "r", &b[0], NULL));
  TRY(xfw_arg_q(r, &q));
  TRY(read_checks(b, q));
  xfw_ok();
  reply_block((unsigned)b[0], 0, 1, (unsigned)b[3], q);
  return 0;
}

int xfw_cmd_readcol(const xfw_request *r) {
  double b[4] = {0, 0, xfw_hal_info()->rows, 1}, q;
  TRY(xfw_arg_int(r, "c", &b[1], NULL));
  TRY(xfw_arg_q(r, &q));
  TRY(read_checks(b, q));
  xfw_ok();
  reply_block(0, (unsigned)b[1], (unsigned)b[2], 1, q);
  return 0;
}

int xfw_cmd_readblk(const xfw_request *r) {
  double b[4], q;
  TRY(xfw_arg_block_parse(r, b));
  TRY(xfw_arg_q(r, &q));
  TRY(read_checks(b, q));
  xfw_ok();
  reply_block((unsigned)b[0], (unsigned)b[1], (unsigned)b[2], (unsigned)b[3], q);
  return 0;
}

int xfw_cmd_readall(const xfw_request *r) {
  const xfw_info *in = xfw_hal_info();
  double b[4] = {0, 0, in->rows, in->cols}, q;
  TRY(xfw_arg_q(r, &q));
  TRY(read_checks(b, q));
  xfw_ok();
  xfw_out_uint("rows", in->rows);
  xfw_out_uint("cols", in->cols);
  reply_block(0, 0, in->rows, in->cols, q);
  return 0;
}

/* VMM's checks after parsing, in the table's order. */
static int vmm_checks(const double b[4], double k, double q, const xfw_packed *x, double nin) {
  TRY(xfw_check_range("k", k, 1, 65536, 0, NULL));
  TRY(xfw_check_range("q", q, 0, 1, 0, NULL));
  TRY(xfw_check_address(b[0], b[1], b[2], b[3]));
  TRY(xfw_check_length("x", x, (long)(k * nin)));
  xfw_limits lim = xfw_limits_now();
  for (uint32_t i = 0; i < x->n; i++) TRY(xfw_check_read_voltage(&lim, xfw_packed_get(x, i)));
  return xfw_check_q(q);
}

/* For a q=1 reply collected from the start of the line buffer: x's bytes moved to its end. The outputs
 * of vector s then end below the inputs not yet read (the reply size check bounds them, and one
 * vector's outputs are at most a sixteenth of the buffer: the static assertion in xfw.c). */
static void move_input(xfw_packed *x) {
  size_t n = (size_t)x->n * xfw_ptype_size[x->type];
  uint8_t *to = (uint8_t *)xfw.line + XFW_MAX_LINE - n;
  memmove(to, x->bytes, n);
  x->bytes = to;
}

static int vmm(const xfw_request *r, int transposed) {
  double b[4], k, q;
  const double one = 1;
  xfw_packed x;
  TRY(xfw_arg_block_parse(r, b));
  TRY(xfw_arg_packed(r, "x", XFW_F32, -1, &x));
  TRY(xfw_arg_int(r, "k", &k, &one));
  TRY(xfw_arg_q(r, &q));
  TRY(vmm_checks(b, k, q, &x, transposed ? b[3] : b[2]));
  unsigned nr = (unsigned)b[2], nc = (unsigned)b[3];
  unsigned nin = transposed ? nc : nr, nout = transposed ? nr : nc;
  TRY(xfw_check_reply_size(k * nout * 4));
  if (q == 1) move_input(&x);
  xfw_ok();
  xfw_vals_begin("y", q == 1, (uint8_t *)xfw.line);
  double power = 0;
  for (unsigned s = 0; s < (unsigned)k; s++) {
    for (unsigned i = 0; i < nin; i++) xfw.vec[i] = (float)xfw_packed_get(&x, s * nin + i);
    xfw_hal_vmm((unsigned)b[0], (unsigned)b[1], nr, nc, xfw.vec, transposed, xfw.acc, &power);
    for (unsigned o = 0; o < nout; o++) xfw_vals_put((float)xfw.acc[o]);
  }
  xfw_vals_end();
  /* VMM holds its input (k=1) for OPU x=last; a k>1 VMM on the block drops it; VMMT holds nothing. */
  if (!transposed) xfw_held_put((unsigned)b[0], (unsigned)b[1], nr, nc, k == 1 ? xfw.vec : NULL);
  xfw.cnt.vmms += k;
  xfw.cnt.energy += power * xfw.cfg.tread;
  xfw_hal_elapse(k * xfw.cfg.tread);
  return 0;
}

int xfw_cmd_vmm(const xfw_request *r) { return vmm(r, 0); }
int xfw_cmd_vmmt(const xfw_request *r) { return vmm(r, 1); }
