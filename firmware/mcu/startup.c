/* Start-up of the STM32G474 build: the vector table, .data/.bss set-up, the FPU, then main(). */
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);
void usart2_irq(void);

void reset_handler(void) {
  uint32_t *src = &_sidata;
  for (uint32_t *d = &_sdata; d < &_edata;) *d++ = *src++;
  for (uint32_t *d = &_sbss; d < &_ebss;) *d++ = 0;
  *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20; /* CPACR: CP10, CP11 full access (FPU) */
  __asm volatile("dsb; isb");
  main();
  for (;;) {
  }
}

static void fault(void) {
  for (;;) {
  }
}

/* Cortex-M4 system vectors, then the STM32G474 interrupts up to USART2 (IRQ 38). */
__attribute__((section(".isr_vector"), used)) void (*const vectors[16 + 39])(void) = {
    [0] = (void (*)(void))(&_estack),
    [1] = reset_handler,
    [2] = fault, /* NMI */
    [3] = fault, /* HardFault */
    [4] = fault, /* MemManage */
    [5] = fault, /* BusFault */
    [6] = fault, /* UsageFault */
    [16 + 38] = usart2_irq,
};
