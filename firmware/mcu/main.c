/*
 * The STM32G474 build: USART2 receives into a ring buffer (interrupt), the main loop feeds the core.
 * The core answers each request before framing the next, so the ring holds what the host sends ahead:
 * IDN window=4 (Makefile: -DXFW_WINDOW=4) requests of up to 512 bytes, and longer lines as long as
 * the host waits for each reply (it does for bulk requests: they fill the window alone). While a pulse
 * train or a WAIT runs, the core takes what arrived from the ring (xfw_hal_link_read) into its own
 * input queue (XFW_PENDING, 2 KiB) to see an ABORT, and executes those lines after the command.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/xfw.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define USART2 0x40004400u
#define RX_SIZE 2048u

void hal_mcu_init(void);

static volatile uint8_t rx[RX_SIZE];
static volatile uint32_t rx_head, rx_tail;

void usart2_irq(void) {
  uint32_t isr = REG(USART2 + 0x1C);
  if (isr & (1u << 3)) REG(USART2 + 0x20) = 1u << 3; /* overrun: bytes lost, the line fails its CRC */
  if (isr & (1u << 5)) {
    uint8_t b = (uint8_t)REG(USART2 + 0x24);
    uint32_t next = (rx_head + 1) % RX_SIZE;
    if (next != rx_tail) {
      rx[rx_head] = b;
      rx_head = next;
    }
  }
}

/* newlib's strtod and printf of doubles keep a small pool of Bigints: a bounded heap for them. */
extern uint8_t _heap_start, _heap_end;
static uint8_t *brk = &_heap_start;
void *_sbrk(ptrdiff_t incr) {
  if (brk + incr > &_heap_end) {
    errno = ENOMEM;
    return (void *)-1;
  }
  uint8_t *old = brk;
  brk += incr;
  return old;
}

size_t xfw_hal_link_read(uint8_t *buf, size_t cap) {
  size_t n = 0;
  while (rx_tail != rx_head && n < cap) {
    buf[n++] = rx[rx_tail];
    rx_tail = (rx_tail + 1) % RX_SIZE;
  }
  return n;
}

int main(void) {
  hal_mcu_init();
  xfw_init(XFW_PROTOCOL_MINOR);
  xfw_announce_boot();
  uint8_t chunk[64];
  for (;;) {
    size_t n = xfw_hal_link_read(chunk, sizeof chunk);
    if (n) xfw_feed(chunk, n);
    else (void)xfw_hal_clock(); /* keeps the 32-bit timer's wraps counted */
  }
}
