/*
 * The HAL of the reference front end on an STM32G474 (docs/firmware.md, "Reference front end"),
 * register level, no vendor library:
 *
 *   DAC1_OUT1 PA4 ─ level shifter (x3.03, -5 V offset) ─ SEL bus   (pulse amplitude, read voltage)
 *   DAC1_OUT2 PA5 ─ level shifter ─────────────────────── HALF bus  (v/2, or v/3 under V/3)
 *   DAC2_OUT1 PA6 ─ level shifter ─────────────────────── HALF2 bus (2v/3 under V/3)
 *   PB7 PULSE_EN  ─ analog switch between the SEL amplifier and the SEL bus (pulse timing)
 *   SENSE bus ─ TIA (virtual ground, 10 kOhm feedback) ─ level shifter ─ ADC1_IN1 PA0
 *   switch fabric: 64 x ADG1414 (octal SPST, SPI daisy chain) on SPI1 (PB3 SCK, PB5 MOSI), PB6 SYNC;
 *     every line (64 rows, 64 columns) has 4 switches: GND, SEL, HALF (rows) / HALF2 (columns), SENSE;
 *     all open = floating
 *   USART2 PA2/PA3 (the ST-LINK virtual COM port of the Nucleo-G474RE), 115200 8N1
 *   TIM2: 1 MHz, 32-bit, the microsecond clock
 *
 * The core runs at the reset clock (HSI16, 16 MHz): enough for the protocol; doubles are in software.
 */
#include <stdint.h>

#include "../core/xfw.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define RCC 0x40021000u
#define GPIOA 0x48000000u
#define GPIOB 0x48000400u
#define USART2 0x40004400u
#define TIM2 0x40000000u
#define DAC1 0x50000800u
#define DAC2 0x50000C00u
#define ADC1 0x50000000u
#define ADC12_CCR 0x50000308u
#define SPI1 0x40013000u
#define NVIC_ISER1 0xE000E104u

#define ROWS XFW_MAX_ROWS
#define COLS XFW_MAX_COLS
#define LINES (ROWS + COLS)

/* Positions of a line in the switch fabric. */
enum { SW_GND = 0, SW_SEL = 1, SW_HALF = 2, SW_SENSE = 3, SW_OPEN = 4 };

static const xfw_info info = {
    .vendor = "xbar",
    .model = "XFW-G474",
    .serial = "XFW-G474-0001",
    .tech = "unknown",
    .effects = "sneak",
    /* Estimates for this front end at 16 MHz (docs/firmware.md): soft-float dispatch, CRC and base64 per
     * byte, a 64-byte SPI update of the fabric at 2 MHz, DAC settling, a 47.5-cycle conversion. */
    .timing = "command:0.0005,byte:0.000002,select:0.00027,settle:0.000006,adc:0.000004,dac:0.00027",
    .rows = ROWS,
    .cols = COLS,
    .gmax = 1e-4, /* the TIA range: 10 kOhm feedback, 1 V full scale at 0.1 V read is 1e-4 S */
    .hard = {.vmax = 5, .wmin = 1e-6, .wmax = 1e-2, .nmax = 10000, .plmax = 1024, .vrmax = 1, .ccmax = 1e-3,
             .emax = 1},
    .has_fire = 0,
    /* The 12-bit DAC1/DAC2 set the input voltages, the 12-bit ADC1 senses (the 1.1 wire). */
    .dac_bits = 12,
    .adc_bits = 12,
};

/* One bit per switch, 4 switches per line, shifted out MSB first (the last chip of the chain first). */
static uint8_t fabric[LINES * 4 / 8];
static uint64_t clock_us;
static uint32_t clock_last;

const xfw_info *xfw_hal_info(void) { return &info; }

/* ---- clock ---- */

double xfw_hal_clock(void) {
  uint32_t now = REG(TIM2 + 0x24);
  clock_us += (uint32_t)(now - clock_last); /* wraps every 71 minutes: called far more often */
  clock_last = now;
  return (double)clock_us * 1e-6;
}

void xfw_hal_clock_reset(void) {
  clock_last = REG(TIM2 + 0x24);
  clock_us = 0;
}

void xfw_hal_elapse(double dt) { (void)dt; /* a real clock runs by itself */ }

static void delay_us(uint32_t us) {
  uint32_t t0 = REG(TIM2 + 0x24);
  while ((uint32_t)(REG(TIM2 + 0x24) - t0) < us) {
  }
}

int xfw_hal_wait(double t) {
  double end = xfw_hal_clock() + t;
  while (xfw_hal_clock() < end)
    if (xfw_poll_abort()) return XFW_ABORTED;
  return 0;
}

/* ---- analog ---- */

/* Bus voltage (-5..5 V) to a 12-bit DAC code through the level shifter: Vout = 3.03 * Vdac - 5. */
static uint32_t dac_code(double v) {
  double vdac = (v + 5.0) / 3.03;
  double code = vdac / 3.3 * 4095.0 + 0.5;
  return code < 0 ? 0 : code > 4095 ? 4095 : (uint32_t)code;
}

static void set_buses(double sel, double half, double half2) {
  REG(DAC1 + 0x08) = dac_code(sel);
  REG(DAC1 + 0x14) = dac_code(half);
  REG(DAC2 + 0x08) = dac_code(half2);
  delay_us(5); /* DAC and amplifier settling */
}

/* Sensed current, A: TIA output (-1..1 V for -100..100 uA) shifted to 0..3.3 V at the ADC. */
static double sense_current(void) {
  REG(ADC1 + 0x08) |= 1u << 2; /* ADSTART */
  while (!(REG(ADC1 + 0x00) & (1u << 2))) {
  }
  uint32_t code = REG(ADC1 + 0x40);
  double vadc = code * (3.3 / 4095.0);
  double vtia = (vadc - 1.65) / 1.65;
  return -vtia / 1e4; /* inverting TIA, 10 kOhm */
}

/* ---- switch fabric ---- */

static void line_set(unsigned line, int pos) {
  for (int k = 0; k < 4; k++) {
    unsigned bit = line * 4 + (unsigned)k;
    if (k == pos) fabric[bit / 8] |= (uint8_t)(1u << (bit % 8));
    else fabric[bit / 8] &= (uint8_t)~(1u << (bit % 8));
  }
}

static void fabric_commit(void) {
  REG(GPIOB + 0x18) = 1u << (6 + 16); /* SYNC low */
  for (int i = (int)sizeof fabric - 1; i >= 0; i--) {
    while (!(REG(SPI1 + 0x08) & (1u << 1))) {
    }
    *(volatile uint8_t *)(SPI1 + 0x0C) = fabric[i];
  }
  while (REG(SPI1 + 0x08) & (1u << 7)) {
  }
  REG(GPIOB + 0x18) = 1u << 6; /* SYNC high: the switches take the new state */
  delay_us(1);
}

/* Selected row r on SEL, selected column c on `colpos`, the others as the scheme says. */
static void bias(unsigned r, unsigned c, int colpos, xfw_bias scheme) {
  int other = scheme == XFW_BIAS_FLOAT ? SW_OPEN : SW_HALF;
  for (unsigned i = 0; i < ROWS; i++) line_set(i, i == r ? SW_SEL : other);
  for (unsigned j = 0; j < COLS; j++) line_set(ROWS + j, j == c ? colpos : other);
  fabric_commit();
}

static void half_levels(double v, xfw_bias scheme, double *half, double *half2) {
  *half = scheme == XFW_BIAS_V3 ? v / 3 : v / 2;
  *half2 = scheme == XFW_BIAS_V3 ? 2 * v / 3 : v / 2;
}

void xfw_hal_idle(void) {
  REG(GPIOB + 0x18) = 1u << (7 + 16); /* PULSE_EN low */
  for (unsigned i = 0; i < LINES; i++) line_set(i, SW_GND);
  fabric_commit();
  set_buses(0, 0, 0);
}

/* ---- operations ---- */

/* This front end does not trip: it senses the current of a train's first pulse for the energy only, so
 * `cc` is not enforced per pulse (the TIA clips at 100 uA). The link is looked at between every two
 * pulses (xfw_poll_abort: an index comparison when nothing arrived, a copy from the UART ring when
 * bytes did), so an ABORT stops the train at the next pulse boundary. */
int xfw_hal_pulse(unsigned r, unsigned c, double v, double w, unsigned n, xfw_bias scheme, double cc,
                  double *energy, unsigned *applied) {
  (void)cc;
  double half, half2;
  half_levels(v, scheme, &half, &half2);
  set_buses(v, half, half2);
  bias(r, c, SW_SENSE, scheme); /* the column through the TIA: its current tells the energy */
  uint32_t wus = (uint32_t)(w * 1e6 + 0.5);
  double current = 0;
  unsigned k = 0;
  int code = 0;
  while (k < n) {
    REG(GPIOB + 0x18) = 1u << 7; /* PULSE_EN high */
    if (k == 0 && wus >= 4) {
      delay_us(wus / 2);
      current = sense_current(); /* clipped at the TIA's range: an estimate above 100 uA */
      delay_us(wus - wus / 2 - 2);
    } else {
      delay_us(wus);
    }
    REG(GPIOB + 0x18) = 1u << (7 + 16);
    k++;
    delay_us(1);
    if (xfw_poll_abort() && k < n) {
      code = XFW_ABORTED;
      break;
    }
  }
  *applied = k;
  *energy += (current < 0 ? -current : current) * (v < 0 ? -v : v) * w * k;
  xfw_hal_idle();
  return code;
}

void xfw_hal_read_row(unsigned r, unsigned c0, unsigned nc, double vread, double tread, xfw_bias scheme,
                      double *g) {
  double half, half2;
  half_levels(vread, scheme, &half, &half2);
  set_buses(vread, half, half2);
  uint32_t tus = (uint32_t)(tread * 1e6 + 0.5);
  for (unsigned j = 0; j < nc; j++) {
    bias(r, c0 + j, SW_SENSE, scheme);
    delay_us(tus);
    g[j] = vread != 0 ? sense_current() / vread : 0;
  }
  xfw_hal_idle();
}

/* VMM by superposition (ohmic devices): one row driven at a time, every column of the block sensed in
 * turn, the currents summed; nr x nc conversions. This front end has one DAC per bus, not per line. */
void xfw_hal_vmm(unsigned r0, unsigned c0, unsigned nr, unsigned nc, const float *x, int transposed,
                 double *out, double *power) {
  unsigned nout = transposed ? nr : nc;
  for (unsigned o = 0; o < nout; o++) out[o] = 0;
  for (unsigned i = 0; i < nr; i++) {
    for (unsigned j = 0; j < nc; j++) {
      double v = transposed ? x[j] : x[i];
      if (v == 0) continue;
      set_buses(v, 0, 0);
      bias(r0 + i, c0 + j, SW_SENSE, XFW_BIAS_V2);
      for (unsigned k = 0; k < ROWS + COLS; k++)
        if (k != r0 + i && k != ROWS + c0 + j) line_set(k, SW_GND);
      fabric_commit();
      double I = sense_current();
      out[transposed ? i : j] += I;
      *power += v * I;
    }
  }
  xfw_hal_idle();
}

uint32_t xfw_hal_fire(unsigned r, unsigned c, double v, double start, double t, double *energy) {
  (void)r, (void)c, (void)v, (void)start, (void)t, (void)energy;
  return 0;
}

double xfw_hal_fire_bound(double v, double t) {
  (void)v, (void)t;
  return 0;
}

/* ---- link ---- */

void xfw_hal_link_write(const uint8_t *data, size_t len) {
  for (size_t i = 0; i < len; i++) {
    while (!(REG(USART2 + 0x1C) & (1u << 7))) {
    }
    REG(USART2 + 0x28) = data[i];
  }
}

/* ---- set-up ---- */

static void pin_mode(uint32_t port, unsigned pin, unsigned mode, unsigned af) {
  REG(port + 0x00) = (REG(port + 0x00) & ~(3u << (2 * pin))) | (mode << (2 * pin));
  if (mode == 2) {
    uint32_t afr = port + (pin < 8 ? 0x20 : 0x24);
    unsigned sh = 4 * (pin % 8);
    REG(afr) = (REG(afr) & ~(15u << sh)) | (af << sh);
  }
}

void hal_mcu_init(void) {
  REG(RCC + 0x4C) |= (1u << 0) | (1u << 1) | (1u << 13) | (1u << 16) | (1u << 17); /* GPIOA/B, ADC12, DAC1/2 */
  REG(RCC + 0x58) |= (1u << 0) | (1u << 17);                                       /* TIM2, USART2 */
  REG(RCC + 0x60) |= 1u << 12;                                                     /* SPI1 */
  /* TIM2 at 1 MHz, free running */
  REG(TIM2 + 0x28) = 16 - 1;
  REG(TIM2 + 0x2C) = 0xFFFFFFFFu;
  REG(TIM2 + 0x14) = 1;
  REG(TIM2 + 0x00) = 1;
  /* USART2 on PA2/PA3 (AF7), 115200 at 16 MHz, receive interrupt */
  pin_mode(GPIOA, 2, 2, 7);
  pin_mode(GPIOA, 3, 2, 7);
  REG(USART2 + 0x0C) = 139;
  REG(USART2 + 0x00) = (1u << 0) | (1u << 2) | (1u << 3) | (1u << 5);
  REG(NVIC_ISER1) = 1u << (38 - 32);
  /* DACs: PA4, PA5, PA6 analog */
  pin_mode(GPIOA, 4, 3, 0);
  pin_mode(GPIOA, 5, 3, 0);
  pin_mode(GPIOA, 6, 3, 0);
  REG(DAC1 + 0x00) = (1u << 0) | (1u << 16);
  REG(DAC2 + 0x00) = 1u << 0;
  /* ADC1 channel 1 (PA0), synchronous clock HCLK/1, calibrated */
  pin_mode(GPIOA, 0, 3, 0);
  REG(ADC12_CCR) = (REG(ADC12_CCR) & ~(3u << 16)) | (1u << 16);
  REG(ADC1 + 0x08) &= ~(1u << 29);
  REG(ADC1 + 0x08) |= 1u << 28;
  delay_us(25);
  REG(ADC1 + 0x08) |= 1u << 31;
  while (REG(ADC1 + 0x08) & (1u << 31)) {
  }
  REG(ADC1 + 0x14) = 4u << 3; /* channel 1: 47.5 cycles */
  REG(ADC1 + 0x30) = 1u << 6; /* one conversion: channel 1 */
  REG(ADC1 + 0x08) |= 1u << 0;
  while (!(REG(ADC1 + 0x00) & 1u)) {
  }
  /* SPI1 master, 8-bit, 2 MHz: PB3 SCK, PB5 MOSI (AF5); PB6 SYNC, PB7 PULSE_EN outputs */
  pin_mode(GPIOB, 3, 2, 5);
  pin_mode(GPIOB, 5, 2, 5);
  pin_mode(GPIOB, 6, 1, 0);
  pin_mode(GPIOB, 7, 1, 0);
  REG(SPI1 + 0x04) = (7u << 8) | (1u << 12);
  REG(SPI1 + 0x00) = (1u << 2) | (2u << 3) | (1u << 8) | (1u << 9) | (1u << 6);
  xfw_hal_clock_reset();
  xfw_hal_idle();
}
