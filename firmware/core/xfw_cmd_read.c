/* Read-type commands (PROTOCOL.md §6): READ READROW READCOL READBLK READALL VMM VMMT. Replies stream
 * their packed data to the link row by row, so no reply buffer is needed (xfw_out.c). */
#include "xfw_cmd.h"

void xfw_read_block(unsigned r0, unsigned c0, unsigned nr, unsigned nc, int stream, double *one) {
  const xfw_cfg *c = &xfw.cfg;
  double gsum = 0;
  for (unsigned i = 0; i < nr; i++) {
    xfw_hal_read_row(r0 + i, c0, nc, c->vread, c->tread, c->scheme, xfw.row);
    for (unsigned j = 0; j < nc; j++) {
      double g = xfw.row[j];
      if (stream) xfw_out_f32((float)g);
      else *one = (float)g;
      gsum += g;
    }
  }
  xfw.cnt.energy += c->vread * c->vread * gsum * c->tread;
  xfw.cnt.reads += (double)nr * nc;
  xfw_hal_elapse((double)nr * nc * c->tread);
}

static void reply_block(unsigned r0, unsigned c0, unsigned nr, unsigned nc) {
  xfw_out_packed_begin("data", XFW_F32);
  xfw_read_block(r0, c0, nr, nc, 1, NULL);
  xfw_out_packed_end();
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

int xfw_cmd_readrow(const xfw_request *r) {
  double row;
  unsigned cols = xfw_hal_info()->cols;
  TRY(xfw_arg_int(r, "r", &row, NULL));
  TRY(xfw_check_address(row, 0, 1, cols));
  xfw_ok();
  reply_block((unsigned)row, 0, 1, cols);
  return 0;
}

int xfw_cmd_readcol(const xfw_request *r) {
  double col;
  unsigned rows = xfw_hal_info()->rows;
  TRY(xfw_arg_int(r, "c", &col, NULL));
  TRY(xfw_check_address(0, col, rows, 1));
  xfw_ok();
  reply_block(0, (unsigned)col, rows, 1);
  return 0;
}

int xfw_cmd_readblk(const xfw_request *r) {
  double b[4];
  TRY(xfw_arg_block(r, b));
  TRY(xfw_check_reply_size(b[2] * b[3] * 4));
  xfw_ok();
  reply_block((unsigned)b[0], (unsigned)b[1], (unsigned)b[2], (unsigned)b[3]);
  return 0;
}

int xfw_cmd_readall(const xfw_request *r) {
  (void)r;
  const xfw_info *in = xfw_hal_info();
  TRY(xfw_check_reply_size((double)in->rows * in->cols * 4));
  xfw_ok();
  xfw_out_uint("rows", in->rows);
  xfw_out_uint("cols", in->cols);
  reply_block(0, 0, in->rows, in->cols);
  return 0;
}

static int vmm(const xfw_request *r, int transposed) {
  double b[4], k;
  const double one = 1;
  TRY(xfw_arg_block(r, b));
  TRY(xfw_arg_int(r, "k", &k, &one));
  if (!(k >= 1 && k <= 65536)) return xfw_fail(XFW_BAD_ARGUMENT, "k=%s outside [1, 65536]", xfw_js(k));
  unsigned nr = (unsigned)b[2], nc = (unsigned)b[3];
  unsigned nin = transposed ? nc : nr, nout = transposed ? nr : nc;
  xfw_packed x;
  TRY(xfw_arg_packed(r, "x", XFW_F32, (long)(k * nin), &x));
  xfw_limits lim = xfw_limits_now();
  for (uint32_t i = 0; i < x.n; i++) TRY(xfw_check_read_voltage(&lim, xfw_packed_get(&x, i)));
  TRY(xfw_check_reply_size(k * nout * 4));
  xfw_ok();
  xfw_out_packed_begin("y", XFW_F32);
  double power = 0;
  for (unsigned s = 0; s < (unsigned)k; s++) {
    for (unsigned i = 0; i < nin; i++) xfw.vec[i] = (float)xfw_packed_get(&x, s * nin + i);
    xfw_hal_vmm((unsigned)b[0], (unsigned)b[1], nr, nc, xfw.vec, transposed, xfw.acc, &power);
    for (unsigned o = 0; o < nout; o++) xfw_out_f32((float)xfw.acc[o]);
  }
  xfw_out_packed_end();
  xfw.cnt.vmms += k;
  xfw.cnt.energy += power * xfw.cfg.tread;
  xfw_hal_elapse(k * xfw.cfg.tread);
  return 0;
}

int xfw_cmd_vmm(const xfw_request *r) { return vmm(r, 0); }
int xfw_cmd_vmmt(const xfw_request *r) { return vmm(r, 1); }
