/*
 * xbar-fw (host build): the reference firmware on a Linux machine, serving a simulated array on a
 * serial device path (the board end of a socat pty pair) or on stdin/stdout ("-").
 *
 *   xbar-fw /tmp/board --rows 16 --cols 16 --device linear --seed 7
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "../core/xfw.h"
#include "sim.h"

int hal_host_start(unsigned rows, unsigned cols, const char *device, int32_t seed);
extern int hal_link_fd, hal_link_in_fd, hal_trip;
extern double hal_timescale;
extern unsigned hal_dac_bits, hal_adc_bits;

static void usage(FILE *f) {
  fprintf(f,
          "usage: xbar-fw PATH|- [--rows N] [--cols N] [--device NAME] [--seed N] [--protocol 1.1|1.0]\n"
          "               [--timescale S] [--trip] [--dac BITS --adc BITS]\n"
          "  PATH     serial device to serve on (e.g. the board end of a socat pty pair); - = stdin/stdout\n"
          "  --rows, --cols  array size, 1..%d x 1..%d (default 64 x 64)\n"
          "  --device        %s (default agsi)\n"
          "  --seed          integer seed of all randomness (default 1)\n"
          "  --protocol      1.1 (default: announces ! BOOT when it starts) or 1.0 (answers as a 1.0 board)\n"
          "  --timescale     wall seconds per board second of pulse trains and WAITs, 0..1000 (default 0:\n"
          "                  at once); above 0 an ABORT stops them part-way, as the emulator's timescale\n"
          "  --trip          compliance trips: a pulse above CFG cc is not applied, ERR 404 and ! FAULT\n"
          "  --dac, --adc    bits of the input DAC and the sensing ADC, 1..16, both or neither (default\n"
          "                  neither): IDN reports them and the board speaks the 1.1 wire (q=1, x=last)\n",
          XFW_MAX_ROWS, XFW_MAX_COLS, sim_preset_names());
}

static int parse_int(const char *opt, const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = s ? strtol(s, &end, 10) : 0;
  if (!s || errno || *end || end == s || v < lo || v > hi) {
    fprintf(stderr, "xbar-fw: %s must be an integer in %ld..%ld, not %s\n", opt, lo, hi, s ? s : "(missing)");
    return -1;
  }
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  const char *path = NULL, *device = "agsi";
  long rows = 64, cols = 64, seed = 1;
  unsigned minor = XFW_PROTOCOL_MINOR;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--rows")) {
      if (parse_int(a, v, 1, XFW_MAX_ROWS, &rows)) return 2;
      i++;
    } else if (!strcmp(a, "--cols")) {
      if (parse_int(a, v, 1, XFW_MAX_COLS, &cols)) return 2;
      i++;
    } else if (!strcmp(a, "--seed")) {
      if (parse_int(a, v, -2147483647L - 1, 2147483647L, &seed)) return 2;
      i++;
    } else if (!strcmp(a, "--timescale")) {
      char *end = NULL;
      double t = v ? strtod(v, &end) : -1;
      if (!v || *end || end == v || !(t >= 0 && t <= 1000)) {
        fprintf(stderr, "xbar-fw: --timescale must be a number in [0, 1000], not %s\n", v ? v : "(missing)");
        return 2;
      }
      hal_timescale = t;
      i++;
    } else if (!strcmp(a, "--dac") || !strcmp(a, "--adc")) {
      long bits;
      if (parse_int(a, v, 1, 16, &bits)) return 2;
      *(a[2] == 'd' ? &hal_dac_bits : &hal_adc_bits) = (unsigned)bits;
      i++;
    } else if (!strcmp(a, "--trip")) {
      hal_trip = 1;
    } else if (!strcmp(a, "--device")) {
      if (!v) return usage(stderr), 2;
      device = v;
      i++;
    } else if (!strcmp(a, "--protocol")) {
      if (!v || (strcmp(v, "1.0") && strcmp(v, "1.1"))) {
        fprintf(stderr, "xbar-fw: --protocol must be 1.0 or 1.1, not %s\n", v ? v : "(missing)");
        return 2;
      }
      minor = v[2] == '1' ? 1 : 0;
      i++;
    } else if (a[0] == '-' && a[1] != 0) {
      fprintf(stderr, "xbar-fw: unknown option %s\n", a);
      usage(stderr);
      return 2;
    } else if (!path) {
      path = a;
    } else {
      fprintf(stderr, "xbar-fw: one path only (got %s and %s)\n", path, a);
      return 2;
    }
  }
  if (!path) {
    usage(stderr);
    return 2;
  }
  if (!hal_dac_bits != !hal_adc_bits) {
    fprintf(stderr, "xbar-fw: give both --dac and --adc (bits of the converters), or neither\n");
    return 2;
  }
  if (!sim_preset_find(device)) {
    fprintf(stderr, "xbar-fw: unknown device \"%s\": choose one of %s\n", device, sim_preset_names());
    return 2;
  }
  int in_fd = 0;
  if (strcmp(path, "-") != 0) {
    in_fd = open(path, O_RDWR | O_NOCTTY);
    if (in_fd < 0) {
      fprintf(stderr, "xbar-fw: cannot open %s: %s\n", path, strerror(errno));
      return 1;
    }
    struct termios t;
    if (tcgetattr(in_fd, &t) == 0) {
      cfmakeraw(&t);
      tcsetattr(in_fd, TCSANOW, &t);
    }
    hal_link_fd = in_fd;
  }
  hal_link_in_fd = in_fd;
  signal(SIGPIPE, SIG_IGN);
  hal_host_start((unsigned)rows, (unsigned)cols, device, (int32_t)seed);
  xfw_init(minor);
  if (minor) xfw_announce_boot(); /* 1.1: a board announces BOOT when it starts */
  static uint8_t buf[65536];
  for (;;) {
    ssize_t n = read(in_fd, buf, sizeof buf);
    if (n > 0) {
      xfw_feed(buf, (size_t)n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return 0; /* end of the link (EOF, or EIO when the other end of a pty closed) */
    }
  }
}
