/** What ends an over-long line after LineGuard cut it (CAN, 0x18), so the receiver can report 103. */
export const OVERLONG = "\u0018";
