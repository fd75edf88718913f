/* The public ways to build and change a model: from a layer list, its
 * tensors, labels and preprocessing. */
#include <math.h>
#include <string.h>

#include "error.h"
#include "model.h"

static sqz_status add_layer(sqz_model *m, const sqz_layer_info *l) {
  if (!l->name) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "layer %d has no name", m->num_layers);
  switch (l->kind) {
    case SQZ_LAYER_CONV:
      return sqz_model_add_conv(m, l->name, l->out_channels, l->kernel, l->stride, l->pad, l->relu);
    case SQZ_LAYER_MAXPOOL: return sqz_model_add_maxpool(m, l->name, l->kernel, l->stride, l->pad);
    case SQZ_LAYER_FIRE:
      return sqz_model_add_fire(m, l->name, l->squeeze, l->expand1x1, l->expand3x3, l->bypass);
    case SQZ_LAYER_GLOBAL_AVGPOOL: return sqz_model_add_global_avgpool(m, l->name);
  }
  return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "layer '%s' has unknown kind %d", l->name,
                  (int)l->kind);
}

sqz_status sqz_model_create(const char *name, int height, int width, const sqz_layer_info *layers,
                            int num_layers, sqz_model **out) {
  if (!layers || !out) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "layers and out must not be NULL");
  if (num_layers < 2 || num_layers > SQZ_MAX_LAYERS)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "a model has 2..%d layers, got %d", SQZ_MAX_LAYERS,
                    num_layers);
  sqz_model *m;
  SQZ_TRY(sqz_model_begin(name, 3, height, width, &m));
  sqz_status st = SQZ_OK;
  for (int i = 0; st == SQZ_OK && i < num_layers; i++) st = add_layer(m, &layers[i]);
  if (st == SQZ_OK) st = sqz_model_finish(m);
  if (st != SQZ_OK) {
    sqz_model_free(m);
    return st;
  }
  *out = m;
  return SQZ_OK;
}

int sqz_model_num_tensors(const sqz_model *m) { return m ? m->num_tensors : 0; }

sqz_status sqz_model_tensor(const sqz_model *m, int index, sqz_tensor_info *info,
                            const float **data) {
  if (!m || !info) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "model and info must not be NULL");
  if (index < 0 || index >= m->num_tensors)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "tensor index %d out of range 0..%d", index,
                    m->num_tensors - 1);
  const sqz_tensor *t = &m->tensors[index];
  info->name = t->name;
  info->ndim = t->ndim;
  for (int d = 0; d < 4; d++) info->dims[d] = d < t->ndim ? t->dims[d] : 1;
  info->count = t->count;
  if (data) *data = m->weights + t->offset;
  return SQZ_OK;
}

sqz_status sqz_model_set_tensor(sqz_model *m, const char *name, const float *data, size_t count) {
  if (!m || !name || !data)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "model, name and data must not be NULL");
  const sqz_tensor *t = sqz_model_find_tensor(m, name);
  if (!t) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "model '%s' has no tensor '%s'", m->name, name);
  if (count != t->count)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "tensor '%s' has %zu values, got %zu", name, t->count,
                    count);
  for (size_t i = 0; i < count; i++)
    if (!isfinite(data[i]))
      return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "tensor '%s' value %zu is not finite", name, i);
  memcpy(m->weights + t->offset, data, count * sizeof *data);
  m->weights_version++;
  return SQZ_OK;
}

sqz_status sqz_model_set_preprocess(sqz_model *m, const sqz_preprocess *p) {
  if (!m || !p) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "model and preprocess must not be NULL");
  if ((unsigned)p->resize_mode > SQZ_RESIZE_STRETCH)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "unknown resize mode %d", (int)p->resize_mode);
  if ((unsigned)p->channel_order > SQZ_ORDER_BGR)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "unknown channel order %d", (int)p->channel_order);
  if (p->resize_size < 1 || p->resize_size > SQZ_MAX_INPUT_SIZE)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "resize size must be 1..%d, got %d",
                    SQZ_MAX_INPUT_SIZE, p->resize_size);
  for (int c = 0; c < 3; c++)
    if (!isfinite(p->mean[c]) || !isfinite(p->scale[c]) || p->scale[c] == 0.0f)
      return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "channel %d: mean %g / scale %g not usable", c,
                      p->mean[c], p->scale[c]);
  m->preprocess = *p;
  return SQZ_OK;
}

sqz_status sqz_model_set_labels(sqz_model *m, const char *const *ids, const char *const *names) {
  if (!m || !names) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "model and names must not be NULL");
  char **id_copy = NULL, **name_copy = NULL;
  SQZ_TRY(sqz_copy_strings(ids, m->num_classes, &id_copy));
  sqz_status st = sqz_copy_strings(names, m->num_classes, &name_copy);
  if (st != SQZ_OK) {
    sqz_free_strings(id_copy, m->num_classes);
    return st;
  }
  sqz_model_adopt_labels(m, id_copy, name_copy);
  return SQZ_OK;
}
