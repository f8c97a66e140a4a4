/* The command table of PROTOCOL.md §6 (firmware-protocol/commands.ts): verbs, keys, kinds, handlers.
 * To follow a protocol change, edit this table and the handler; nothing else dispatches. */
#include "xfw_cmd.h"

#define KEYS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NOKEYS ((const char *const[]){NULL})

const xfw_command xfw_commands[] = {
    {"NOP", NOKEYS, XFW_CONTROL, xfw_cmd_nop},
    {"HELLO", KEYS("token"), XFW_CONTROL, xfw_cmd_hello},
    {"IDN", NOKEYS, XFW_CONTROL, xfw_cmd_idn},
    {"LIM", NOKEYS, XFW_CONTROL, xfw_cmd_lim},
    {"CFG", KEYS("vread", "scheme", "cc", "tread", "vmax", "wmax", "nmax", "emax"), XFW_CONTROL, xfw_cmd_cfg},
    {"READ", KEYS("r", "c"), XFW_READ, xfw_cmd_read},
    {"READROW", KEYS("r", "q"), XFW_READ, xfw_cmd_readrow},
    {"READCOL", KEYS("c", "q"), XFW_READ, xfw_cmd_readcol},
    {"READBLK", KEYS("r0", "c0", "nr", "nc", "q"), XFW_READ, xfw_cmd_readblk},
    {"READALL", KEYS("q"), XFW_READ, xfw_cmd_readall},
    {"PULSE", KEYS("r", "c", "v", "w", "n", "rd"), XFW_PROGRAM, xfw_cmd_pulse},
    {"PLIST", KEYS("r", "c", "v", "w", "n"), XFW_PROGRAM, xfw_cmd_plist},
    {"PBLK", KEYS("r0", "c0", "nr", "nc", "n", "vp", "vn", "w"), XFW_PROGRAM, xfw_cmd_pblk},
    {"OPU", KEYS("r0", "c0", "nr", "nc", "x", "d", "vp", "vn", "w", "scale", "mode", "th"), XFW_PROGRAM,
     xfw_cmd_opu},
    {"VMM", KEYS("r0", "c0", "nr", "nc", "x", "k", "q"), XFW_READ, xfw_cmd_vmm},
    {"VMMT", KEYS("r0", "c0", "nr", "nc", "x", "k", "q"), XFW_READ, xfw_cmd_vmmt},
    {"FIRE", KEYS("r0", "c0", "nr", "nc", "v", "t"), XFW_PROGRAM, xfw_cmd_fire},
    {"WAIT", KEYS("t"), XFW_CONTROL, xfw_cmd_wait},
    {"CLK", NOKEYS, XFW_CONTROL, xfw_cmd_clk},
    {"STAT", KEYS("clear"), XFW_CONTROL, xfw_cmd_stat},
    {"ERRQ", NOKEYS, XFW_CONTROL, xfw_cmd_errq},
    {"ABORT", NOKEYS, XFW_CONTROL, xfw_cmd_abort},
    {"RESET", NOKEYS, XFW_CONTROL, xfw_cmd_reset},
};

const unsigned xfw_ncommands = sizeof xfw_commands / sizeof xfw_commands[0];
