#include "byte_io.h"

#include <stdlib.h>
#include <string.h>

#include "../runtime/alloc.h"

void sqz_buffer_free(sqz_buffer *b) {
  sqz_free(b->data);
  memset(b, 0, sizeof *b);
}

void sqz_put_bytes(sqz_buffer *b, const void *data, size_t n) {
  if (b->failed || n == 0) return;
  if (b->size + n > b->capacity) {
    size_t cap = b->capacity ? b->capacity : 4096;
    while (cap < b->size + n) cap *= 2;
    unsigned char *grown = sqz_malloc(cap, "serialisation buffer");
    if (!grown) {
      b->failed = 1;
      return;
    }
    if (b->size) memcpy(grown, b->data, b->size);
    sqz_free(b->data);
    b->data = grown;
    b->capacity = cap;
  }
  memcpy(b->data + b->size, data, n);
  b->size += n;
}

void sqz_put_u8(sqz_buffer *b, uint8_t v) { sqz_put_bytes(b, &v, 1); }

void sqz_put_u32(sqz_buffer *b, uint32_t v) {
  unsigned char x[4];
  for (int i = 0; i < 4; i++) x[i] = (unsigned char)(v >> (8 * i));
  sqz_put_bytes(b, x, 4);
}

void sqz_put_u64(sqz_buffer *b, uint64_t v) {
  unsigned char x[8];
  for (int i = 0; i < 8; i++) x[i] = (unsigned char)(v >> (8 * i));
  sqz_put_bytes(b, x, 8);
}

void sqz_put_f32(sqz_buffer *b, float v) {
  uint32_t bits;
  memcpy(&bits, &v, 4);
  sqz_put_u32(b, bits);
}

void sqz_put_string(sqz_buffer *b, const char *s) {
  size_t n = strlen(s);
  sqz_put_u32(b, (uint32_t)n);
  sqz_put_bytes(b, s, n);
}

sqz_reader sqz_reader_make(const void *data, size_t n) {
  sqz_reader r = {data, n, 0};
  return r;
}

const unsigned char *sqz_get_bytes(sqz_reader *r, size_t n) {
  if (r->failed || n > r->left) {
    r->failed = 1;
    return NULL;
  }
  const unsigned char *p = r->p;
  r->p += n;
  r->left -= n;
  return p;
}

uint8_t sqz_get_u8(sqz_reader *r) {
  const unsigned char *p = sqz_get_bytes(r, 1);
  return p ? p[0] : 0;
}

uint32_t sqz_get_u32(sqz_reader *r) {
  const unsigned char *p = sqz_get_bytes(r, 4);
  if (!p) return 0;
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t sqz_get_u64(sqz_reader *r) {
  uint64_t lo = sqz_get_u32(r);
  uint64_t hi = sqz_get_u32(r);
  return lo | hi << 32;
}

float sqz_get_f32(sqz_reader *r) {
  uint32_t bits = sqz_get_u32(r);
  float v;
  memcpy(&v, &bits, 4);
  return v;
}

int sqz_get_string(sqz_reader *r, char *out, size_t max_len) {
  uint32_t n = sqz_get_u32(r);
  if (r->failed || n > max_len) {
    r->failed = 1;
    return 0;
  }
  const unsigned char *p = sqz_get_bytes(r, n);
  if (!p || memchr(p, 0, n)) {
    r->failed = 1;
    return 0;
  }
  memcpy(out, p, n);
  out[n] = '\0';
  return 1;
}
