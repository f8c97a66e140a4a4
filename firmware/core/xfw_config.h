/*
 * Compile-time configuration of the xbar reference firmware: every buffer of the core is static and
 * sized here. A build overrides these with -D (see the Makefile: the host and the MCU builds differ).
 *
 * RAM of the core (struct xfw_core, see xfw.h), for XFW_MAX_ROWS = XFW_MAX_COLS = 64:
 *   receive line buffer      XFW_MAX_LINE                      (MCU: 24 576)
 *   replay window            XFW_REPLAY_WINDOW x (XFW_REPLAY_SLOT + 8)  (64 x 200)
 *   error queue              XFW_ERRQ_DEPTH x (XFW_ERRQ_MSG + 4)        (32 x 100)
 *   row / vector buffers     ~ 24 x max(rows, cols) bytes
 *   input queue              XFW_PENDING                        (MCU: 2 048) lines received while a
 *                            command runs, executed after it (an ABORT among them stops it)
 * The total is checked against XFW_CORE_RAM_BUDGET with a static assertion (xfw.c).
 */
#ifndef XFW_CONFIG_H
#define XFW_CONFIG_H

/* Largest array the core addresses (the HAL reports the actual size, at most these). */
#ifndef XFW_MAX_ROWS
#define XFW_MAX_ROWS 64
#endif
#ifndef XFW_MAX_COLS
#define XFW_MAX_COLS 64
#endif

/* Longest line accepted, terminator included (IDN maxline=). PROTOCOL.md allows a board to advertise
 * less than MAX_LINE (8 MiB). 24 KiB carries a READALL of 64 x 64 f32 (21 848 bytes of base64). */
#ifndef XFW_MAX_LINE
#define XFW_MAX_LINE 24576
#endif

/* Replies remembered for replay (PROTOCOL.md §3: 64), and the largest reply stored. Every reply of a
 * programming command fits a slot; a larger (read-type) reply keeps its place in the window but is
 * not stored, so its retransmission executes again (harmless for a read: the read counter and the
 * clock move). The host build uses 1 MiB slots, the emulator's REPLAY_MAX_REPLY. */
#ifndef XFW_REPLAY_WINDOW
#define XFW_REPLAY_WINDOW 64
#endif
#ifndef XFW_REPLAY_SLOT
#define XFW_REPLAY_SLOT 192
#endif

/* Error queue (PROTOCOL.md §5: 32 entries); messages longer than XFW_ERRQ_MSG - 1 are cut. */
#ifndef XFW_ERRQ_DEPTH
#define XFW_ERRQ_DEPTH 32
#endif
#ifndef XFW_ERRQ_MSG
#define XFW_ERRQ_MSG 96
#endif

/* Bytes the core queues while a command runs (xfw_input.c): the lines that arrive meanwhile, executed
 * after it in order. When it is full the core takes no more from the link until the command ends
 * (backpressure: nothing is lost, but an ABORT behind a full queue is seen only after the command).
 * 2 KiB holds IDN window=4 requests of 512 bytes (the MCU build). */
#ifndef XFW_PENDING
#define XFW_PENDING 2048
#endif
/* Longest line checked for ABORT while a command runs ("65535 ABORT*xxxxxxxx" is 20 bytes). */
#define XFW_ABORT_LINE_MAX 64

/* Requests the host may keep in flight (IDN window=): what the link's receive buffer can hold. */
#ifndef XFW_WINDOW
#define XFW_WINDOW 16
#endif

/* Arguments per request stored by the parser (no command takes more than 12). */
#ifndef XFW_MAX_ARGS
#define XFW_MAX_ARGS 24
#endif

/* The 1.1 wire (PROTOCOL.md §6): the inputs of the last VMMs (k=1) held for OPU x=last, one per block,
 * for the last XFW_HELD_BLOCKS blocks (the spec's 16), in a pool of XFW_HELD_FLOATS float32 values
 * shared by them (oldest dropped first). The default holds 16 blocks of full height; a smaller pool (the
 * MCU build) drops blocks sooner, and the host, refused with 203, sends x again. */
#ifndef XFW_HELD_BLOCKS
#define XFW_HELD_BLOCKS 16
#endif
#ifndef XFW_HELD_FLOATS
#define XFW_HELD_FLOATS (XFW_HELD_BLOCKS * XFW_MAX_ROWS)
#endif

/* The core's RAM budget in bytes (checked at compile time). */
#ifndef XFW_CORE_RAM_BUDGET
#define XFW_CORE_RAM_BUDGET 49152
#endif

#define XFW_VERSION "0.1.0"
#define XFW_PROTOCOL 1
/* The minor version this firmware follows by default (1.1: the errata and the time model); a build or
 * a test may run the core as a 1.0 board (xfw_init(0)). */
#define XFW_PROTOCOL_MINOR 1

#endif
