/**
 * Line checksum (PROTOCOL.md §1): CRC-32 as in zlib, PNG and Ethernet, written as 8 lowercase hex
 * digits. Node's zlib computes it natively (Node >= 20.15).
 */
import { crc32 } from "node:zlib";

export function checksum(body: string): string {
  return crc32(body).toString(16).padStart(8, "0");
}
