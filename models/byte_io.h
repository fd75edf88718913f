/* Internal: little-endian serialisation into a growable buffer, and bounds-
 * checked reading from a byte range. Readers never trust a length before
 * checking it against what is left. */
#ifndef SQZ_MODELS_BYTE_IO_H
#define SQZ_MODELS_BYTE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "sqz.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sqz_buffer {
  unsigned char *data;
  size_t size, capacity;
  int failed; /* an allocation failed: everything after is dropped */
} sqz_buffer;

void sqz_buffer_free(sqz_buffer *b);
void sqz_put_bytes(sqz_buffer *b, const void *data, size_t n);
void sqz_put_u8(sqz_buffer *b, uint8_t v);
void sqz_put_u32(sqz_buffer *b, uint32_t v);
void sqz_put_u64(sqz_buffer *b, uint64_t v);
void sqz_put_f32(sqz_buffer *b, float v);
void sqz_put_string(sqz_buffer *b, const char *s); /* u32 length + bytes */

typedef struct sqz_reader {
  const unsigned char *p;
  size_t left;
  int failed; /* read past the end: all later reads give zeros */
} sqz_reader;

sqz_reader sqz_reader_make(const void *data, size_t n);
uint8_t sqz_get_u8(sqz_reader *r);
uint32_t sqz_get_u32(sqz_reader *r);
uint64_t sqz_get_u64(sqz_reader *r);
float sqz_get_f32(sqz_reader *r);
/* A pointer to the next n bytes (NULL and failed if fewer are left). */
const unsigned char *sqz_get_bytes(sqz_reader *r, size_t n);
/* A string of at most max_len bytes copied NUL-terminated into out
 * (max_len + 1 bytes). 0 and failed on overrun, too long or a NUL inside. */
int sqz_get_string(sqz_reader *r, char *out, size_t max_len);

#ifdef __cplusplus
}
#endif

#endif
