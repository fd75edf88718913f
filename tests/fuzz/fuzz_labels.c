/* The label-file reader: the first byte picks the model's class count
 * (1..8), the rest is the file's text. */
#include <string.h>

#include "fuzz_contract.h"
#include "models/labels.h"

static sqz_model *model_with_classes(int classes) {
  const sqz_layer_info layers[] = {
      {.name = "conv1", .kind = SQZ_LAYER_CONV, .out_channels = 2, .kernel = 1, .stride = 1},
      {.name = "conv10",
       .kind = SQZ_LAYER_CONV,
       .out_channels = classes,
       .kernel = 1,
       .stride = 1,
       .relu = 1},
      {.name = "avgpool", .kind = SQZ_LAYER_GLOBAL_AVGPOOL}};
  sqz_model *m = NULL;
  if (sqz_model_create("labels", 2, 2, layers, 3, &m) != SQZ_OK) return NULL;
  return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static sqz_model *models[8];
  if (size < 1) return 0;
  const int classes = 1 + data[0] % 8;
  if (!models[classes - 1]) models[classes - 1] = model_with_classes(classes);
  sqz_model *m = models[classes - 1];
  if (!m) fuzz_check_failure(SQZ_ERR_INTERNAL);
  sqz_status st = sqz_model_parse_labels(m, "fuzz.txt", (const char *)data + 1, size - 1);
  if (st != SQZ_OK) {
    fuzz_check_failure(st);
    return 0;
  }
  for (int i = 0; i < classes; i++) {
    const char *name = sqz_model_label(m, i), *id = sqz_model_label_id(m, i);
    if (!name || !id) fuzz_check_failure(SQZ_ERR_INTERNAL);
    if (memchr(name, '\n', strlen(name))) fuzz_check_failure(SQZ_ERR_INTERNAL);
    if (id[0] && sqz_model_find_label_id(m, id) < 0) fuzz_check_failure(SQZ_ERR_INTERNAL);
  }
  return 0;
}
