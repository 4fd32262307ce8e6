/*
 * checksum.h — CRC-32C (Castagnoli), the checksum of checkpoint files.
 *
 * It guards a copy against corruption in transit or at rest (a torn part, a
 * bad disk), not against an adversary. Incremental: start from 0 and feed
 * the bytes in any number of pieces.
 */
#ifndef RS_CHECKSUM_H
#define RS_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *data, size_t len);

#endif
