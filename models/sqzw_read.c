/* Reading .sqzw files. Every length, count and value is checked against the
 * bytes that are actually there and against sane limits before use. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../runtime/alloc.h"
#include "../runtime/error.h"
#include "../runtime/model.h"
#include "byte_io.h"
#include "crc32.h"
#include "sqzw_format.h"

int sqz_sqzw_sniff(const unsigned char *data, size_t size) {
  return size >= SQZW_MAGIC_SIZE && memcmp(data, SQZW_MAGIC, SQZW_MAGIC_SIZE) == 0;
}

typedef struct section {
  char tag[5];
  size_t offset; /* of the payload in the file, for messages */
  sqz_reader payload;
} section;

/* Cuts the next section off the file, verifying its length and CRC. */
static sqz_status next_section(const char *path, sqz_reader *file, size_t file_size, section *out) {
  size_t at = file_size - file->left;
  const unsigned char *head = sqz_get_bytes(file, SQZW_SECTION_HEAD);
  if (!head)
    return sqz_fail(SQZ_ERR_FORMAT,
                    "%s: truncated at byte %zu: expected a section "
                    "header (16 bytes), %zu left",
                    path, at, file->left);
  memcpy(out->tag, head, 4);
  out->tag[4] = '\0';
  sqz_reader h = sqz_reader_make(head + 4, 12);
  uint32_t flags = sqz_get_u32(&h);
  uint64_t length = sqz_get_u64(&h);
  for (int i = 0; i < 4; i++)
    if (out->tag[i] < ' ' || out->tag[i] > '~')
      return sqz_fail(SQZ_ERR_FORMAT, "%s: byte %zu: section tag is not ASCII", path, at);
  if (flags != 0)
    return sqz_fail(SQZ_ERR_FORMAT, "%s: section '%s' at byte %zu has flags 0x%x, expected 0", path,
                    out->tag, at, (unsigned)flags);
  if (length > file->left || file->left - length < 4)
    return sqz_fail(SQZ_ERR_FORMAT,
                    "%s: section '%s' at byte %zu claims %llu bytes but only %zu "
                    "remain (truncated file?)",
                    path, out->tag, at, (unsigned long long)length,
                    file->left >= 4 ? file->left - 4 : 0);
  const unsigned char *payload = sqz_get_bytes(file, (size_t)length);
  uint32_t stored = sqz_get_u32(file);
  uint32_t crc = sqz_crc32(sqz_crc32(0, head, SQZW_SECTION_HEAD), payload, (size_t)length);
  if (crc != stored)
    return sqz_fail(SQZ_ERR_FORMAT,
                    "%s: section '%s' at byte %zu: checksum 0x%08x, stored 0x%08x "
                    "(corrupt file)",
                    path, out->tag, at, (unsigned)crc, (unsigned)stored);
  out->offset = at + SQZW_SECTION_HEAD;
  out->payload = sqz_reader_make(payload, (size_t)length);
  return SQZ_OK;
}

static sqz_status expect_consumed(const char *path, const section *s) {
  if (s->payload.failed)
    return sqz_fail(SQZ_ERR_FORMAT,
                    "%s: section '%s' at byte %zu is shorter than its "
                    "content needs (or a string in it is too long)",
                    path, s->tag, s->offset);
  if (s->payload.left)
    return sqz_fail(SQZ_ERR_FORMAT,
                    "%s: section '%s' at byte %zu has %zu unexpected "
                    "trailing bytes",
                    path, s->tag, s->offset, s->payload.left);
  return SQZ_OK;
}

/* A u32 that must fit in [lo, hi]. */
static sqz_status get_int(const char *path, sqz_reader *r, const char *what, uint32_t lo,
                          uint32_t hi, int *out) {
  uint32_t v = sqz_get_u32(r);
  if (r->failed) return sqz_fail(SQZ_ERR_FORMAT, "%s: truncated reading %s", path, what);
  if (v < lo || v > hi)
    return sqz_fail(SQZ_ERR_FORMAT, "%s: %s is %u, expected %u..%u", path, what, (unsigned)v,
                    (unsigned)lo, (unsigned)hi);
  *out = (int)v;
  return SQZ_OK;
}

static sqz_status parse_layer(const char *path, sqz_reader *r, sqz_model *m, int index) {
  uint8_t kind = sqz_get_u8(r);
  char name[SQZ_MAX_NAME];
  if (!sqz_get_string(r, name, SQZ_MAX_NAME - 1))
    return sqz_fail(SQZ_ERR_FORMAT, "%s: layer %d: bad or truncated name", path, index);
  char what[SQZ_MAX_NAME + 32];
  int a = 0, b = 0, c = 0, d = 0;
  sqz_status st;
  switch (kind) {
    case SQZ_LAYER_CONV:
      snprintf(what, sizeof what, "layer '%s' out channels", name);
      SQZ_TRY(get_int(path, r, what, 1, SQZ_MAX_CHANNELS, &a));
      snprintf(what, sizeof what, "layer '%s' kernel", name);
      SQZ_TRY(get_int(path, r, what, 1, SQZ_MAX_KERNEL, &b));
      snprintf(what, sizeof what, "layer '%s' stride", name);
      SQZ_TRY(get_int(path, r, what, 1, SQZ_MAX_STRIDE, &c));
      snprintf(what, sizeof what, "layer '%s' padding", name);
      SQZ_TRY(get_int(path, r, what, 0, (uint32_t)b, &d));
      {
        uint8_t relu = sqz_get_u8(r);
        if (relu > 1)
          return sqz_fail(SQZ_ERR_FORMAT, "%s: layer '%s' relu flag is %u, expected 0 or 1", path,
                          name, relu);
        st = sqz_model_add_conv(m, name, a, b, c, d, relu);
      }
      break;
    case SQZ_LAYER_MAXPOOL:
      snprintf(what, sizeof what, "layer '%s' kernel", name);
      SQZ_TRY(get_int(path, r, what, 1, SQZ_MAX_KERNEL, &a));
      snprintf(what, sizeof what, "layer '%s' stride", name);
      SQZ_TRY(get_int(path, r, what, 1, SQZ_MAX_STRIDE, &b));
      snprintf(what, sizeof what, "layer '%s' padding", name);
      SQZ_TRY(get_int(path, r, what, 0, (uint32_t)a / 2, &c));
      st = sqz_model_add_maxpool(m, name, a, b, c);
      break;
    case SQZ_LAYER_FIRE: {
      snprintf(what, sizeof what, "layer '%s' squeeze channels", name);
      SQZ_TRY(get_int(path, r, what, 1, SQZ_MAX_CHANNELS, &a));
      snprintf(what, sizeof what, "layer '%s' expand1x1 channels", name);
      SQZ_TRY(get_int(path, r, what, 1, SQZ_MAX_CHANNELS, &b));
      snprintf(what, sizeof what, "layer '%s' expand3x3 channels", name);
      SQZ_TRY(get_int(path, r, what, 1, SQZ_MAX_CHANNELS, &c));
      uint8_t bypass = sqz_get_u8(r);
      if (bypass > SQZ_BYPASS_COMPLEX)
        return sqz_fail(SQZ_ERR_FORMAT, "%s: layer '%s' bypass kind is %u, expected 0..2", path,
                        name, bypass);
      st = sqz_model_add_fire(m, name, a, b, c, (sqz_bypass)bypass);
      break;
    }
    case SQZ_LAYER_GLOBAL_AVGPOOL: st = sqz_model_add_global_avgpool(m, name); break;
    default:
      return sqz_fail(SQZ_ERR_FORMAT, "%s: layer %d ('%s') has unknown kind %u", path, index, name,
                      kind);
  }
  if (r->failed) return sqz_fail(SQZ_ERR_FORMAT, "%s: layer '%s' is truncated", path, name);
  if (st != SQZ_OK) return sqz_fail_context(SQZ_ERR_FORMAT, "%s", path);
  return SQZ_OK;
}

static sqz_status parse_arch(const char *path, section *s, size_t file_size, sqz_model **out) {
  sqz_reader *r = &s->payload;
  char name[64];
  if (!sqz_get_string(r, name, sizeof name - 1) || !name[0])
    return sqz_fail(SQZ_ERR_FORMAT, "%s: bad or truncated model name", path);
  int in_c = 0, in_h = 0, in_w = 0, layers = 0;
  SQZ_TRY(get_int(path, r, "input channels", 3, 3, &in_c));
  SQZ_TRY(get_int(path, r, "input height", 1, SQZ_MAX_INPUT_SIZE, &in_h));
  SQZ_TRY(get_int(path, r, "input width", 1, SQZ_MAX_INPUT_SIZE, &in_w));
  SQZ_TRY(get_int(path, r, "layer count", 2, SQZ_MAX_LAYERS, &layers));
  sqz_model *m;
  SQZ_TRY(sqz_model_begin(name, in_c, in_h, in_w, &m));
  sqz_status st = SQZ_OK;
  for (int i = 0; st == SQZ_OK && i < layers; i++) st = parse_layer(path, r, m, i);
  if (st == SQZ_OK) st = expect_consumed(path, s);
  if (st == SQZ_OK) {
    /* Every weight is stored in the file as 4 bytes. */
    st = sqz_model_finish_within(m, file_size / 4);
    if (st != SQZ_OK && st != SQZ_ERR_OUT_OF_MEMORY)
      st = sqz_fail_context(SQZ_ERR_FORMAT, "%s: invalid architecture", path);
  }
  if (st != SQZ_OK) {
    sqz_model_free(m);
    return st;
  }
  *out = m;
  return SQZ_OK;
}

static sqz_status parse_prep(const char *path, section *s, sqz_model *m) {
  sqz_reader *r = &s->payload;
  sqz_preprocess p;
  uint8_t mode = sqz_get_u8(r);
  uint32_t resize = sqz_get_u32(r);
  uint8_t order = sqz_get_u8(r);
  for (int c = 0; c < 3; c++) p.mean[c] = sqz_get_f32(r);
  for (int c = 0; c < 3; c++) p.scale[c] = sqz_get_f32(r);
  SQZ_TRY(expect_consumed(path, s));
  if (mode > SQZ_RESIZE_STRETCH)
    return sqz_fail(SQZ_ERR_FORMAT, "%s: resize mode %u, expected 0 or 1", path, mode);
  if (order > SQZ_ORDER_BGR)
    return sqz_fail(SQZ_ERR_FORMAT, "%s: channel order %u, expected 0 or 1", path, order);
  int crop = m->in_h > m->in_w ? m->in_h : m->in_w;
  if (resize < (uint32_t)crop || resize > SQZ_MAX_INPUT_SIZE)
    return sqz_fail(SQZ_ERR_FORMAT, "%s: resize size %u, expected %d..%d", path, (unsigned)resize,
                    crop, SQZ_MAX_INPUT_SIZE);
  for (int c = 0; c < 3; c++)
    if (!isfinite(p.mean[c]) || !isfinite(p.scale[c]) || p.scale[c] == 0.0f)
      return sqz_fail(SQZ_ERR_FORMAT, "%s: channel %d mean %g / scale %g not usable", path, c,
                      p.mean[c], p.scale[c]);
  p.resize_mode = (sqz_resize_mode)mode;
  p.resize_size = (int)resize;
  p.channel_order = (sqz_channel_order)order;
  m->preprocess = p;
  return SQZ_OK;
}

static sqz_status parse_labels(const char *path, section *s, sqz_model *m) {
  sqz_reader *r = &s->payload;
  uint32_t count = sqz_get_u32(r);
  if (r->failed || count != (uint32_t)m->num_classes)
    return sqz_fail(SQZ_ERR_FORMAT, "%s: %u labels for %d classes", path, (unsigned)count,
                    m->num_classes);
  char **ids = sqz_calloc(count, sizeof *ids, "label ids");
  char **names = sqz_calloc(count, sizeof *names, "label names");
  sqz_status st = ids && names ? SQZ_OK : SQZ_ERR_OUT_OF_MEMORY;
  char id[SQZW_MAX_LABEL_ID + 1], name[SQZW_MAX_LABEL_NAME + 1];
  for (uint32_t i = 0; st == SQZ_OK && i < count; i++) {
    if (!sqz_get_string(r, id, SQZW_MAX_LABEL_ID) ||
        !sqz_get_string(r, name, SQZW_MAX_LABEL_NAME)) {
      st = sqz_fail(SQZ_ERR_FORMAT, "%s: label %u is truncated or too long", path, (unsigned)i);
      break;
    }
    ids[i] = sqz_strdup(id, "label id");
    names[i] = sqz_strdup(name, "label name");
    if (!ids[i] || !names[i]) st = SQZ_ERR_OUT_OF_MEMORY;
  }
  if (st == SQZ_OK) st = expect_consumed(path, s);
  if (st != SQZ_OK) {
    sqz_free_strings(ids, (int)count);
    sqz_free_strings(names, (int)count);
    return st;
  }
  sqz_model_adopt_labels(m, ids, names);
  return SQZ_OK;
}

static sqz_status parse_tensor(const char *path, section *s, sqz_model *m, unsigned char *seen) {
  sqz_reader *r = &s->payload;
  char name[sizeof m->tensors[0].name];
  if (!sqz_get_string(r, name, sizeof name - 1))
    return sqz_fail(SQZ_ERR_FORMAT, "%s: tensor at byte %zu: bad or truncated name", path,
                    s->offset);
  const sqz_tensor *t = sqz_model_find_tensor(m, name);
  if (!t)
    return sqz_fail(SQZ_ERR_FORMAT, "%s: tensor '%s' is not part of the architecture", path, name);
  size_t index = (size_t)(t - m->tensors);
  if (seen[index]) return sqz_fail(SQZ_ERR_FORMAT, "%s: tensor '%s' appears twice", path, name);
  uint8_t dtype = sqz_get_u8(r);
  uint8_t ndim = sqz_get_u8(r);
  if (dtype != SQZW_DTYPE_F32)
    return sqz_fail(SQZ_ERR_FORMAT,
                    "%s: tensor '%s' has dtype %u; this version reads "
                    "only float32 (1)",
                    path, name, dtype);
  if (ndim != (uint8_t)t->ndim)
    return sqz_fail(SQZ_ERR_FORMAT, "%s: tensor '%s' has %u dimensions, expected %d", path, name,
                    ndim, t->ndim);
  for (int d = 0; d < t->ndim; d++) {
    uint32_t dim = sqz_get_u32(r);
    if (!r->failed && dim != (uint32_t)t->dims[d])
      return sqz_fail(SQZ_ERR_FORMAT,
                      "%s: tensor '%s' dimension %d is %u, the architecture needs %d", path, name,
                      d, (unsigned)dim, t->dims[d]);
  }
  if (r->failed || r->left != t->count * 4)
    return sqz_fail(SQZ_ERR_FORMAT, "%s: tensor '%s' has %zu data bytes, expected %zu", path, name,
                    r->failed ? 0 : r->left, t->count * 4);
  float *w = m->weights + t->offset;
  for (size_t i = 0; i < t->count; i++) {
    w[i] = sqz_get_f32(r);
    if (!isfinite(w[i]))
      return sqz_fail(SQZ_ERR_FORMAT, "%s: tensor '%s' element %zu is not finite", path, name, i);
  }
  seen[index] = 1;
  return SQZ_OK;
}

static sqz_status parse_header(const char *path, sqz_reader *file) {
  const unsigned char *h = sqz_get_bytes(file, SQZW_HEADER_SIZE);
  if (!h || memcmp(h, SQZW_MAGIC, SQZW_MAGIC_SIZE) != 0)
    return sqz_fail(SQZ_ERR_FORMAT, "%s: not a .sqzw file (bad magic)", path);
  sqz_reader r = sqz_reader_make(h + SQZW_MAGIC_SIZE, 8);
  uint32_t version = sqz_get_u32(&r);
  uint32_t crc = sqz_get_u32(&r);
  if (crc != sqz_crc32(0, h, 12))
    return sqz_fail(SQZ_ERR_FORMAT, "%s: header checksum mismatch (corrupt file)", path);
  if (version != SQZW_VERSION)
    return sqz_fail(SQZ_ERR_FORMAT, "%s: format version %u, this library reads version %u", path,
                    (unsigned)version, SQZW_VERSION);
  return SQZ_OK;
}

static sqz_status expect_tag(const char *path, const section *s, const char *tag) {
  if (strcmp(s->tag, tag) != 0)
    return sqz_fail(SQZ_ERR_FORMAT, "%s: section '%s' at byte %zu where '%s' was expected", path,
                    s->tag, s->offset, tag);
  return SQZ_OK;
}

static sqz_status parse_body(const char *path, sqz_reader *file, size_t size, sqz_model *m,
                             unsigned char *seen) {
  section s;
  SQZ_TRY(next_section(path, file, size, &s));
  SQZ_TRY(expect_tag(path, &s, SQZW_TAG_PREP));
  SQZ_TRY(parse_prep(path, &s, m));
  SQZ_TRY(next_section(path, file, size, &s));
  if (strcmp(s.tag, SQZW_TAG_LABELS) == 0) {
    SQZ_TRY(parse_labels(path, &s, m));
    SQZ_TRY(next_section(path, file, size, &s));
  }
  while (strcmp(s.tag, SQZW_TAG_TENSOR) == 0) {
    SQZ_TRY(parse_tensor(path, &s, m, seen));
    SQZ_TRY(next_section(path, file, size, &s));
  }
  SQZ_TRY(expect_tag(path, &s, SQZW_TAG_END));
  SQZ_TRY(expect_consumed(path, &s));
  if (file->left)
    return sqz_fail(SQZ_ERR_FORMAT, "%s: %zu unexpected bytes after the end section", path,
                    file->left);
  for (int t = 0; t < m->num_tensors; t++)
    if (!seen[t])
      return sqz_fail(SQZ_ERR_FORMAT, "%s: tensor '%s' is missing", path, m->tensors[t].name);
  return SQZ_OK;
}

sqz_status sqz_sqzw_parse(const char *path, const unsigned char *data, size_t size,
                          sqz_model **out) {
  sqz_reader file = sqz_reader_make(data, size);
  SQZ_TRY(parse_header(path, &file));
  section s;
  SQZ_TRY(next_section(path, &file, size, &s));
  SQZ_TRY(expect_tag(path, &s, SQZW_TAG_ARCH));
  sqz_model *m = NULL;
  SQZ_TRY(parse_arch(path, &s, size, &m));
  unsigned char seen[SQZ_MAX_TENSORS] = {0};
  sqz_status st = parse_body(path, &file, size, m, seen);
  if (st != SQZ_OK) {
    sqz_model_free(m);
    return st;
  }
  *out = m;
  return SQZ_OK;
}
