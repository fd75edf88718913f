#include "fuzz_contract.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/crc32.h"

static void violated(const char *what) {
  fprintf(stderr, "fuzz: contract broken: %s (last error: %s)\n", what, sqz_last_error());
  abort();
}

void fuzz_check_failure(sqz_status st) {
  if (st == SQZ_OK || (unsigned)st > SQZ_ERR_CANCELLED) violated("an unknown status");
  if (st == SQZ_ERR_INTERNAL) violated("an internal error");
  if (sqz_last_error()[0] == '\0') violated("a failure without a message");
}

static void check_tensors(const sqz_model *m) {
  const int n = sqz_model_num_tensors(m);
  if (n < 2) violated("a model with fewer than two tensors");
  for (int i = 0; i < n; i++) {
    sqz_tensor_info info;
    const float *data = NULL;
    if (sqz_model_tensor(m, i, &info, &data) != SQZ_OK || !data || !info.name || info.count == 0)
      violated("a tensor that cannot be described");
    for (size_t k = 0; k < info.count; k++)
      if (!isfinite(data[k])) violated("a non-finite weight was accepted");
  }
}

/* FNV-1a over the fields that decide a forward's memory accesses: every
 * layer's kind, shapes and parameters at the chosen input size. Weights
 * only change the values computed, and check_tensors has seen them. */
static uint64_t architecture_digest(const sqz_model *m) {
  uint64_t h = 1469598103934665603u;
  const int layers = sqz_model_num_layers(m);
  for (int i = 0; i < layers; i++) {
    sqz_layer_info l;
    sqz_model_layer(m, i, &l);
    const int64_t fields[] = {l.kind,       l.in_channels, l.in_height, l.in_width,  l.out_channels,
                              l.out_height, l.out_width,   l.kernel,    l.stride,    l.pad,
                              l.relu,       l.squeeze,     l.expand1x1, l.expand3x3, l.bypass};
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
      for (int b = 0; b < 8; b++) h = (h ^ (uint8_t)(fields[k] >> (8 * b))) * 1099511628211u;
  }
  return h;
}

/* Whether this architecture has run its forward in this process already
 * (a fixed-size table, emptied when full, so a miss only costs a forward). */
static int forward_seen(uint64_t digest) {
  enum { kSlots = 1 << 14 };
  static uint64_t slots[kSlots];
  static int used;
  if (digest == 0) digest = 1; /* 0 marks an empty slot */
  size_t at = (size_t)(digest % kSlots);
  while (slots[at] != 0) {
    if (slots[at] == digest) return 1;
    at = (at + 1) % kSlots;
  }
  if (++used > kSlots / 2) {
    memset(slots, 0, sizeof slots);
    used = 1;
    at = (size_t)(digest % kSlots);
  }
  slots[at] = digest;
  return 0;
}

void fuzz_check_model(sqz_model *m) {
  int c, h, w;
  sqz_model_input_shape(m, &c, &h, &w);
  const int classes = sqz_model_num_classes(m), layers = sqz_model_num_layers(m);
  if (c != 3 || h < 1 || w < 1 || classes < 1 || layers < 1) violated("implausible shapes");
  if (!sqz_model_name(m)) violated("no name");
  for (int i = 0; i < layers; i++) {
    sqz_layer_info l;
    if (sqz_model_layer(m, i, &l) != SQZ_OK || !l.name) violated("a layer that cannot be read");
  }
  for (int i = 0; i < classes; i++)
    if ((sqz_model_label(m, i) == NULL) != (sqz_model_label(m, 0) == NULL))
      violated("labels for some classes only");
  check_tensors(m);
  /* The smallest square input the architecture allows keeps the run cheap. */
  int size = 1;
  while (size < 4096 && sqz_model_set_input_size(m, size, size) != SQZ_OK) size++;
  if (size == 4096) violated("no input size up to 4095 is accepted");
  if (forward_seen(architecture_digest(m))) return;
  sqz_engine_options o = sqz_engine_options_default();
  o.backend = SQZ_BACKEND_CPU;
  o.cpu_threads = 1;
  sqz_engine *e = NULL;
  sqz_status st = sqz_engine_create(m, &o, &e);
  if (st != SQZ_OK) {
    if (st != SQZ_ERR_OUT_OF_MEMORY) violated("a valid model without a cpu engine");
    return;
  }
  const size_t n = (size_t)3 * size * size;
  float *input = calloc(n, sizeof *input);
  float *output = malloc(sizeof(float) * (size_t)classes);
  if (input && output) {
    for (size_t i = 0; i < n; i++) input[i] = (float)(i % 7) - 3.0f;
    if (sqz_engine_run(e, input, 1, SQZ_LAYOUT_NCHW, SQZ_OUTPUT_LOGITS, output) != SQZ_OK)
      violated("a cpu forward failed");
  }
  free(input);
  free(output);
  sqz_engine_free(e);
}

void fuzz_check_parsed(sqz_status st, sqz_model *m) {
  if (st != SQZ_OK) {
    fuzz_check_failure(st);
    return;
  }
  fuzz_check_model(m);
  sqz_model_free(m);
}

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

uint8_t *fuzz_fix_sqzw_checksums(const uint8_t *data, size_t size) {
  uint8_t *out = malloc(size ? size : 1);
  if (!out) return NULL;
  memcpy(out, data, size);
  /* The .sqzw layout (docs/file-format.md): a 16-byte header whose last
   * word is the CRC-32 of the first 12, then sections of a 16-byte head
   * (tag, flags, u64 length), the payload and the CRC-32 of both. */
  if (size < 16 || memcmp(out, "\x89SQZW\r\n\x1a", 8) != 0) return out;
  put_u32(out + 12, sqz_crc32(0, out, 12));
  size_t at = 16;
  while (size - at >= 16 + 4) {
    const uint64_t length = get_u32(out + at + 8) | (uint64_t)get_u32(out + at + 12) << 32;
    if (length > size - at - 16 - 4) break;
    const uint32_t crc = sqz_crc32(sqz_crc32(0, out + at, 16), out + at + 16, (size_t)length);
    put_u32(out + at + 16 + length, crc);
    at += 16 + (size_t)length + 4;
  }
  return out;
}
