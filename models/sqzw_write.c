/* Writing .sqzw files (docs/file-format.md). */
#include <string.h>

#include "../runtime/error.h"
#include "../runtime/model.h"
#include "byte_io.h"
#include "crc32.h"
#include "file_util.h"
#include "sqzw_format.h"

static void put_arch(sqz_buffer *b, const sqz_model *m) {
  sqz_put_string(b, m->name);
  sqz_put_u32(b, (uint32_t)m->in_c);
  sqz_put_u32(b, (uint32_t)m->in_h);
  sqz_put_u32(b, (uint32_t)m->in_w);
  sqz_put_u32(b, (uint32_t)m->num_layers);
  for (int i = 0; i < m->num_layers; i++) {
    const sqz_layer *l = &m->layers[i];
    sqz_put_u8(b, (uint8_t)l->kind);
    sqz_put_string(b, l->name);
    switch (l->kind) {
      case SQZ_LAYER_CONV:
        sqz_put_u32(b, (uint32_t)l->conv.out_channels);
        sqz_put_u32(b, (uint32_t)l->conv.kernel);
        sqz_put_u32(b, (uint32_t)l->conv.stride);
        sqz_put_u32(b, (uint32_t)l->conv.pad);
        sqz_put_u8(b, (uint8_t)l->conv.relu);
        break;
      case SQZ_LAYER_MAXPOOL:
        sqz_put_u32(b, (uint32_t)l->pool.kernel);
        sqz_put_u32(b, (uint32_t)l->pool.stride);
        sqz_put_u32(b, (uint32_t)l->pool.pad);
        break;
      case SQZ_LAYER_FIRE:
        sqz_put_u32(b, (uint32_t)l->fire.squeeze.out_channels);
        sqz_put_u32(b, (uint32_t)l->fire.expand1x1.out_channels);
        sqz_put_u32(b, (uint32_t)l->fire.expand3x3.out_channels);
        sqz_put_u8(b, (uint8_t)l->fire.bypass);
        break;
      case SQZ_LAYER_GLOBAL_AVGPOOL: break;
    }
  }
}

static void put_prep(sqz_buffer *b, const sqz_preprocess *p) {
  sqz_put_u8(b, (uint8_t)p->resize_mode);
  sqz_put_u32(b, (uint32_t)p->resize_size);
  sqz_put_u8(b, (uint8_t)p->channel_order);
  for (int c = 0; c < 3; c++) sqz_put_f32(b, p->mean[c]);
  for (int c = 0; c < 3; c++) sqz_put_f32(b, p->scale[c]);
}

static void put_labels(sqz_buffer *b, const sqz_model *m) {
  sqz_put_u32(b, (uint32_t)m->num_classes);
  for (int i = 0; i < m->num_classes; i++) {
    sqz_put_string(b, m->label_ids[i]);
    sqz_put_string(b, m->label_names[i]);
  }
}

static void put_tensor(sqz_buffer *b, const sqz_model *m, const sqz_tensor *t) {
  sqz_put_string(b, t->name);
  sqz_put_u8(b, SQZW_DTYPE_F32);
  sqz_put_u8(b, (uint8_t)t->ndim);
  for (int d = 0; d < t->ndim; d++) sqz_put_u32(b, (uint32_t)t->dims[d]);
  const float *w = m->weights + t->offset;
  for (size_t i = 0; i < t->count; i++) sqz_put_f32(b, w[i]);
}

/* Writes one section (head, payload, CRC over both) and empties the
 * payload buffer for the next one. */
static sqz_status write_section(sqz_atomic_file *f, const char *tag, sqz_buffer *payload) {
  if (payload->failed) return SQZ_ERR_OUT_OF_MEMORY;
  unsigned char head[SQZW_SECTION_HEAD + 4];
  sqz_buffer h = {head, 0, sizeof head, 0}; /* fits: never grows */
  sqz_put_bytes(&h, tag, 4);
  sqz_put_u32(&h, 0);
  sqz_put_u64(&h, payload->size);
  uint32_t crc = sqz_crc32(0, head, SQZW_SECTION_HEAD);
  crc = sqz_crc32(crc, payload->data, payload->size);
  sqz_put_u32(&h, crc);
  sqz_status st = sqz_atomic_write(f, head, SQZW_SECTION_HEAD);
  if (st == SQZ_OK) st = sqz_atomic_write(f, payload->data, payload->size);
  if (st == SQZ_OK) st = sqz_atomic_write(f, head + SQZW_SECTION_HEAD, 4);
  payload->size = 0;
  return st;
}

static sqz_status write_all(sqz_atomic_file *f, const sqz_model *m, sqz_buffer *b) {
  sqz_put_bytes(b, SQZW_MAGIC, SQZW_MAGIC_SIZE);
  sqz_put_u32(b, SQZW_VERSION);
  if (b->failed) return SQZ_ERR_OUT_OF_MEMORY;
  sqz_put_u32(b, sqz_crc32(0, b->data, b->size));
  if (b->failed) return SQZ_ERR_OUT_OF_MEMORY;
  SQZ_TRY(sqz_atomic_write(f, b->data, b->size));
  b->size = 0;
  put_arch(b, m);
  SQZ_TRY(write_section(f, SQZW_TAG_ARCH, b));
  put_prep(b, &m->preprocess);
  SQZ_TRY(write_section(f, SQZW_TAG_PREP, b));
  if (m->label_names) {
    put_labels(b, m);
    SQZ_TRY(write_section(f, SQZW_TAG_LABELS, b));
  }
  for (int t = 0; t < m->num_tensors; t++) {
    put_tensor(b, m, &m->tensors[t]);
    SQZ_TRY(write_section(f, SQZW_TAG_TENSOR, b));
  }
  return write_section(f, SQZW_TAG_END, b);
}

sqz_status sqz_model_save(const sqz_model *m, const char *path) {
  if (!m || !path) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "model and path must not be NULL");
  sqz_atomic_file f;
  SQZ_TRY(sqz_atomic_open(path, &f));
  sqz_buffer buffer = {0};
  sqz_status st = write_all(&f, m, &buffer);
  sqz_buffer_free(&buffer);
  if (st != SQZ_OK) {
    sqz_atomic_abort(&f);
    return sqz_fail_context(st, "%s: not saved", path);
  }
  return sqz_atomic_commit(&f);
}
