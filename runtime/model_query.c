/* The public model queries and setters of sqz.h. */
#include <string.h>

#include "error.h"
#include "model.h"

const char *sqz_model_name(const sqz_model *m) { return m ? m->name : NULL; }

void sqz_model_input_shape(const sqz_model *m, int *channels, int *height, int *width) {
  if (!m) return;
  if (channels) *channels = m->in_c;
  if (height) *height = m->in_h;
  if (width) *width = m->in_w;
}

int sqz_model_num_classes(const sqz_model *m) { return m ? m->num_classes : 0; }

uint64_t sqz_model_param_count(const sqz_model *m) {
  uint64_t n = 0;
  for (int i = 0; m && i < m->num_layers; i++) n += sqz_layer_params(&m->layers[i]);
  return n;
}

uint64_t sqz_model_macs(const sqz_model *m) {
  uint64_t n = 0;
  for (int i = 0; m && i < m->num_layers; i++) n += sqz_layer_macs(&m->layers[i]);
  return n;
}

const char *sqz_model_label(const sqz_model *m, int index) {
  if (!m || !m->label_names || index < 0 || index >= m->num_classes) return NULL;
  return m->label_names[index];
}

const char *sqz_model_label_id(const sqz_model *m, int index) {
  if (!m || !m->label_ids || index < 0 || index >= m->num_classes) return NULL;
  return m->label_ids[index];
}

int sqz_model_find_label_id(const sqz_model *m, const char *id) {
  if (!m || !m->label_ids || !id || !*id) return -1;
  for (int i = 0; i < m->num_classes; i++)
    if (strcmp(m->label_ids[i], id) == 0) return i;
  return -1;
}

int sqz_model_num_layers(const sqz_model *m) { return m ? m->num_layers : 0; }

sqz_status sqz_model_layer(const sqz_model *m, int index, sqz_layer_info *out) {
  if (!m || !out) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "model and out must not be NULL");
  if (index < 0 || index >= m->num_layers)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "layer index %d out of range 0..%d", index,
                    m->num_layers - 1);
  const sqz_layer *l = &m->layers[index];
  sqz_layer_info info;
  memset(&info, 0, sizeof info);
  info.name = l->name;
  info.kind = l->kind;
  info.in_channels = l->in_c;
  info.in_height = l->in_h;
  info.in_width = l->in_w;
  info.out_channels = l->out_c;
  info.out_height = l->out_h;
  info.out_width = l->out_w;
  if (l->kind == SQZ_LAYER_CONV) {
    info.kernel = l->conv.kernel;
    info.stride = l->conv.stride;
    info.pad = l->conv.pad;
    info.relu = l->conv.relu;
  } else if (l->kind == SQZ_LAYER_MAXPOOL) {
    info.kernel = l->pool.kernel;
    info.stride = l->pool.stride;
    info.pad = l->pool.pad;
  } else if (l->kind == SQZ_LAYER_FIRE) {
    info.squeeze = l->fire.squeeze.out_channels;
    info.expand1x1 = l->fire.expand1x1.out_channels;
    info.expand3x3 = l->fire.expand3x3.out_channels;
    info.bypass = l->fire.bypass;
    info.relu = 1;
  }
  info.params = sqz_layer_params(l);
  info.macs = sqz_layer_macs(l);
  *out = info;
  return SQZ_OK;
}

void sqz_model_preprocess(const sqz_model *m, sqz_preprocess *out) {
  if (m && out) *out = m->preprocess;
}

sqz_status sqz_model_set_input_size(sqz_model *m, int height, int width) {
  if (!m) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "model must not be NULL");
  int old_h = m->in_h, old_w = m->in_w;
  sqz_status st = sqz_model_infer_shapes(m, height, width);
  if (st != SQZ_OK) {
    sqz_model_infer_shapes(m, old_h, old_w); /* restore the shapes */
    return st;
  }
  return SQZ_OK;
}
