/* Internal: CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the
 * checksum of the .sqzw sections. */
#ifndef SQZ_MODELS_CRC32_H
#define SQZ_MODELS_CRC32_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Continues a CRC: start with crc = 0. */
uint32_t sqz_crc32(uint32_t crc, const void *data, size_t n);

#ifdef __cplusplus
}
#endif

#endif
