/* The layer-list constructor (sqz_model_create): the bytes describe the
 * input size and up to 12 layers, mostly in range, sometimes raw. A model
 * it accepts gets random weights and must run. */
#include <stdio.h>
#include <string.h>

#include "fuzz_contract.h"

enum { kMaxLayers = 12, kBytesPerLayer = 6 };

/* A field: usually lo + b % span, raw (possibly negative) when `raw`. */
static int field(uint8_t b, int lo, int span, int raw) {
  return raw ? (int)(int8_t)b : lo + b % span;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  const int h = 1 + data[0] % 48, w = 1 + data[1] % 48;
  data += 2;
  size -= 2;
  sqz_layer_info layers[kMaxLayers];
  char names[kMaxLayers][8];
  int n = 0;
  memset(layers, 0, sizeof layers);
  for (; n < kMaxLayers && size >= kBytesPerLayer;
       n++, data += kBytesPerLayer, size -= kBytesPerLayer) {
    sqz_layer_info *l = &layers[n];
    const int raw = (data[5] & 0x80) != 0;
    snprintf(names[n], sizeof names[n], "l%d", n);
    l->name = names[n];
    l->kind = (sqz_layer_kind)(data[0] % 4);
    switch (l->kind) {
      case SQZ_LAYER_CONV:
        l->out_channels = field(data[1], 1, 24, raw);
        l->kernel = field(data[2], 1, 7, raw);
        l->stride = field(data[3], 1, 3, raw);
        l->pad = field(data[4], 0, 4, raw);
        l->relu = data[5] & 1;
        break;
      case SQZ_LAYER_MAXPOOL:
        l->kernel = field(data[2], 1, 4, raw);
        l->stride = field(data[3], 1, 3, raw);
        l->pad = field(data[4], 0, 2, raw);
        break;
      case SQZ_LAYER_FIRE:
        l->squeeze = field(data[1], 1, 12, raw);
        l->expand1x1 = field(data[2], 0, 16, raw);
        l->expand3x3 = field(data[3], 0, 16, raw);
        l->bypass = (sqz_bypass)field(data[4], 0, 3, raw);
        break;
      default: break;
    }
  }
  sqz_model *m = NULL;
  sqz_status st = sqz_model_create("fuzz", h, w, layers, n, &m);
  if (st != SQZ_OK) {
    fuzz_check_failure(st);
    return 0;
  }
  /* Weights from the model's own tensors list, small and varied. */
  for (int t = 0; t < sqz_model_num_tensors(m); t++) {
    sqz_tensor_info info;
    if (sqz_model_tensor(m, t, &info, NULL) != SQZ_OK) fuzz_check_failure(SQZ_ERR_INTERNAL);
    float values[4096];
    if (info.count > 4096) continue;
    for (size_t k = 0; k < info.count; k++) values[k] = (float)((int)(k % 9) - 4) * 0.125f;
    if (sqz_model_set_tensor(m, info.name, values, info.count) != SQZ_OK)
      fuzz_check_failure(SQZ_ERR_INTERNAL);
  }
  fuzz_check_model(m);
  sqz_model_free(m);
  return 0;
}
