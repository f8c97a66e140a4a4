/* The 1.1 wire (PROTOCOL.md §6, "The 1.1 wire"): q=1 replies quantised at the ADC's resolution, and
 * the VMM inputs a board holds for OPU x=last. Only a board whose HAL reports dac_bits and adc_bits
 * speaks it; quantised requests are decoded everywhere (xfw_packed.c). */
#ifndef XFW_WIRE_H
#define XFW_WIRE_H

#include "xfw.h"
#include "xfw_packed.h"

/* q= of the read and VMM verbs: parsed (default 0), in the table's range [0, 1]. */
int xfw_arg_q(const xfw_request *r, double *q);
/* After every check of the table: 203 for q=1 on a board that sends float32 only. */
int xfw_check_q(double q);

/* The values of a reply's f32 field: streamed as f32, or (q=1) collected at `store` (bytes for every
 * value, 4 each) and written quantised at the ADC's resolution by xfw_vals_end (packed.ts quantise). */
void xfw_vals_begin(const char *key, int q, uint8_t *store);
void xfw_vals_put(float f);
void xfw_vals_end(void);

/* Held VMM inputs: forgets all; holds x (nr values) for a block, or forgets the block's (x NULL); the
 * held input of a block as a packed f32 array, else 203 with the emulator's words. Hold does nothing on
 * a board without dac_bits. */
void xfw_held_clear(void);
void xfw_held_put(unsigned r0, unsigned c0, unsigned nr, unsigned nc, const float *x);
int xfw_held_input(unsigned r0, unsigned c0, unsigned nr, unsigned nc, xfw_packed *out);

#endif
