#include "model.h"

#include <stdint.h>

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

void sqz_model_free(sqz_model *m) {
  if (!m) return;
  sqz_model_adopt_labels(m, NULL, NULL);
  sqz_free(m->weights);
  sqz_free(m);
}

sqz_status sqz_model_begin(const char *name, int in_c, int in_h, int in_w, sqz_model **out) {
  if (!name || !*name || strlen(name) >= sizeof((sqz_model *)0)->name)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "model name must have 1 to 63 characters");
  if (in_c != 3)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "model input must have 3 channels, got %d", in_c);
  if (in_h < 1 || in_w < 1 || in_h > SQZ_MAX_INPUT_SIZE || in_w > SQZ_MAX_INPUT_SIZE)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "model input size must be 1..%d, got %dx%d",
                    SQZ_MAX_INPUT_SIZE, in_h, in_w);
  sqz_model *m = sqz_calloc(1, sizeof *m, "model");
  if (!m) return SQZ_ERR_OUT_OF_MEMORY;
  snprintf(m->name, sizeof m->name, "%s", name);
  m->in_c = in_c;
  m->in_h = in_h;
  m->in_w = in_w;
  m->preprocess = sqz_preprocess_torchvision(in_h);
  *out = m;
  return SQZ_OK;
}

static sqz_status check_range(const char *layer, const char *what, int v, int lo, int hi) {
  if (v < lo || v > hi)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "layer '%s': %s must be %d..%d, got %d", layer, what,
                    lo, hi, v);
  return SQZ_OK;
}

static sqz_status append_layer(sqz_model *m, const char *name, sqz_layer_kind kind,
                               sqz_layer **out) {
  if (m->num_layers >= SQZ_MAX_LAYERS)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "more than %d layers", SQZ_MAX_LAYERS);
  if (!name || !*name || strlen(name) >= SQZ_MAX_NAME)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "layer names must have 1 to %d characters",
                    SQZ_MAX_NAME - 1);
  for (const char *c = name; *c; c++)
    if (*c <= ' ' || *c > '~')
      return sqz_fail(SQZ_ERR_INVALID_ARGUMENT,
                      "layer name '%s' has a space or non-ASCII character", name);
  for (int i = 0; i < m->num_layers; i++)
    if (strcmp(m->layers[i].name, name) == 0)
      return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "two layers are named '%s'", name);
  sqz_layer *l = &m->layers[m->num_layers++];
  memset(l, 0, sizeof *l);
  snprintf(l->name, sizeof l->name, "%s", name);
  l->kind = kind;
  *out = l;
  return SQZ_OK;
}

static sqz_status set_conv(const char *layer, sqz_conv *c, int out_channels, int kernel, int stride,
                           int pad, int relu) {
  SQZ_TRY(check_range(layer, "output channels", out_channels, 1, SQZ_MAX_CHANNELS));
  SQZ_TRY(check_range(layer, "kernel", kernel, 1, SQZ_MAX_KERNEL));
  SQZ_TRY(check_range(layer, "stride", stride, 1, SQZ_MAX_STRIDE));
  /* Padding up to the kernel size: the pretrained v1.0 conv10 is a 1x1 conv
   * with padding 1. */
  SQZ_TRY(check_range(layer, "padding", pad, 0, kernel));
  c->out_channels = out_channels;
  c->kernel = kernel;
  c->stride = stride;
  c->pad = pad;
  c->relu = relu ? 1 : 0;
  return SQZ_OK;
}

sqz_status sqz_model_add_conv(sqz_model *m, const char *name, int out_channels, int kernel,
                              int stride, int pad, int relu) {
  sqz_layer *l = NULL;
  SQZ_TRY(append_layer(m, name, SQZ_LAYER_CONV, &l));
  sqz_status st = set_conv(name, &l->conv, out_channels, kernel, stride, pad, relu);
  if (st != SQZ_OK) m->num_layers--;
  return st;
}

sqz_status sqz_model_add_maxpool(sqz_model *m, const char *name, int kernel, int stride, int pad) {
  sqz_layer *l = NULL;
  SQZ_TRY(append_layer(m, name, SQZ_LAYER_MAXPOOL, &l));
  sqz_status st = check_range(name, "kernel", kernel, 1, SQZ_MAX_KERNEL);
  if (st == SQZ_OK) st = check_range(name, "stride", stride, 1, SQZ_MAX_STRIDE);
  /* As in PyTorch: padding at most half the window. */
  if (st == SQZ_OK) st = check_range(name, "padding", pad, 0, kernel / 2);
  if (st != SQZ_OK) {
    m->num_layers--;
    return st;
  }
  l->pool.kernel = kernel;
  l->pool.stride = stride;
  l->pool.pad = pad;
  return SQZ_OK;
}

sqz_status sqz_model_add_fire(sqz_model *m, const char *name, int squeeze, int expand1x1,
                              int expand3x3, sqz_bypass bypass) {
  sqz_layer *l = NULL;
  SQZ_TRY(append_layer(m, name, SQZ_LAYER_FIRE, &l));
  sqz_fire *f = &l->fire;
  sqz_status st = set_conv(name, &f->squeeze, squeeze, 1, 1, 0, 1);
  if (st == SQZ_OK) st = set_conv(name, &f->expand1x1, expand1x1, 1, 1, 0, 1);
  if (st == SQZ_OK) st = set_conv(name, &f->expand3x3, expand3x3, 3, 1, 1, 1);
  if (st == SQZ_OK && expand1x1 + expand3x3 > SQZ_MAX_CHANNELS)
    st = sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "layer '%s': more than %d output channels", name,
                  SQZ_MAX_CHANNELS);
  if (st == SQZ_OK && (bypass < SQZ_BYPASS_NONE || bypass > SQZ_BYPASS_COMPLEX))
    st =
        sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "layer '%s': unknown bypass kind %d", name, (int)bypass);
  if (st == SQZ_OK && bypass == SQZ_BYPASS_COMPLEX)
    st = set_conv(name, &f->shortcut, expand1x1 + expand3x3, 1, 1, 0, 0);
  if (st != SQZ_OK) {
    m->num_layers--;
    return st;
  }
  f->bypass = bypass;
  return SQZ_OK;
}

sqz_status sqz_model_add_global_avgpool(sqz_model *m, const char *name) {
  sqz_layer *l = NULL;
  return append_layer(m, name, SQZ_LAYER_GLOBAL_AVGPOOL, &l);
}

static sqz_status add_tensor(sqz_model *m, const char *layer, const char *part, const char *kind,
                             int ndim, const int *dims, size_t *offset, int fan_in) {
  if (m->num_tensors >= SQZ_MAX_TENSORS) return sqz_fail(SQZ_ERR_INTERNAL, "too many tensors");
  sqz_tensor *t = &m->tensors[m->num_tensors++];
  if (part)
    snprintf(t->name, sizeof t->name, "%s.%s.%s", layer, part, kind);
  else
    snprintf(t->name, sizeof t->name, "%s.%s", layer, kind);
  t->ndim = ndim;
  t->count = 1;
  for (int i = 0; i < ndim; i++) {
    t->dims[i] = dims[i];
    t->count *= (size_t)dims[i];
  }
  t->offset = m->num_weights;
  t->fan_in = fan_in;
  *offset = t->offset;
  m->num_weights += t->count;
  return SQZ_OK;
}

/* Lays out one conv's weight and bias, given its input channels. */
static sqz_status layout_conv(sqz_model *m, const char *layer, const char *part, sqz_conv *c,
                              int in_channels) {
  c->in_channels = in_channels;
  int wdims[4] = {c->out_channels, in_channels, c->kernel, c->kernel};
  int fan_in = in_channels * c->kernel * c->kernel;
  SQZ_TRY(add_tensor(m, layer, part, "weight", 4, wdims, &c->weight, fan_in));
  return add_tensor(m, layer, part, "bias", 1, &c->out_channels, &c->bias, 0);
}

static sqz_status layout_weights(sqz_model *m) {
  m->num_tensors = 0;
  m->num_weights = 0;
  int channels = m->in_c;
  for (int i = 0; i < m->num_layers; i++) {
    sqz_layer *l = &m->layers[i];
    switch (l->kind) {
      case SQZ_LAYER_CONV:
        SQZ_TRY(layout_conv(m, l->name, NULL, &l->conv, channels));
        channels = l->conv.out_channels;
        break;
      case SQZ_LAYER_FIRE: {
        sqz_fire *f = &l->fire;
        int out = f->expand1x1.out_channels + f->expand3x3.out_channels;
        if (f->bypass == SQZ_BYPASS_SIMPLE && channels != out)
          return sqz_fail(SQZ_ERR_INVALID_ARGUMENT,
                          "layer '%s': a simple bypass needs equal input and output "
                          "channels, got %d and %d",
                          l->name, channels, out);
        SQZ_TRY(layout_conv(m, l->name, "squeeze", &f->squeeze, channels));
        SQZ_TRY(layout_conv(m, l->name, "expand1x1", &f->expand1x1, f->squeeze.out_channels));
        SQZ_TRY(layout_conv(m, l->name, "expand3x3", &f->expand3x3, f->squeeze.out_channels));
        if (f->bypass == SQZ_BYPASS_COMPLEX)
          SQZ_TRY(layout_conv(m, l->name, "shortcut", &f->shortcut, channels));
        channels = out;
        break;
      }
      case SQZ_LAYER_MAXPOOL:
      case SQZ_LAYER_GLOBAL_AVGPOOL: break;
    }
  }
  m->num_classes = channels;
  return SQZ_OK;
}

sqz_status sqz_model_finish(sqz_model *m) { return sqz_model_finish_within(m, SIZE_MAX); }

sqz_status sqz_model_finish_within(sqz_model *m, size_t max_weights) {
  if (m->num_layers < 2)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "a model needs at least two layers");
  if (m->layers[0].kind != SQZ_LAYER_CONV)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "the first layer must be a convolution, '%s' is not",
                    m->layers[0].name);
  for (int i = 0; i < m->num_layers; i++) {
    int last = i == m->num_layers - 1;
    if ((m->layers[i].kind == SQZ_LAYER_GLOBAL_AVGPOOL) != last)
      return sqz_fail(SQZ_ERR_INVALID_ARGUMENT,
                      "the last layer, and only it, must be a global average "
                      "pool ('%s' at position %d)",
                      m->layers[i].name, i);
  }
  SQZ_TRY(layout_weights(m));
  if (m->num_weights > max_weights)
    return sqz_fail(SQZ_ERR_FORMAT,
                    "the architecture has %zu weights, more than the %zu its source can hold",
                    m->num_weights, max_weights);
  sqz_free(m->weights);
  m->weights = sqz_calloc(m->num_weights, sizeof(float), "model weights");
  if (!m->weights) return SQZ_ERR_OUT_OF_MEMORY;
  return sqz_model_infer_shapes(m, m->in_h, m->in_w);
}

int sqz_conv_out_size(int in, int kernel, int stride, int pad) {
  int span = in + 2 * pad - kernel;
  return span < 0 ? 0 : span / stride + 1;
}

int sqz_pool_out_size(int in, int kernel, int stride, int pad) {
  int span = in + 2 * pad - kernel;
  if (span < 0) return 0;
  int out = (span + stride - 1) / stride + 1;
  /* The last window must start inside the input or its left padding. */
  if ((out - 1) * stride >= in + pad) out--;
  return out;
}

sqz_status sqz_model_infer_shapes(sqz_model *m, int height, int width) {
  if (height < 1 || width < 1 || height > SQZ_MAX_INPUT_SIZE || width > SQZ_MAX_INPUT_SIZE)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "input size must be 1..%d, got %dx%d",
                    SQZ_MAX_INPUT_SIZE, height, width);
  int c = m->in_c, h = height, w = width;
  for (int i = 0; i < m->num_layers; i++) {
    sqz_layer *l = &m->layers[i];
    l->in_c = c;
    l->in_h = h;
    l->in_w = w;
    switch (l->kind) {
      case SQZ_LAYER_CONV:
        c = l->conv.out_channels;
        h = sqz_conv_out_size(h, l->conv.kernel, l->conv.stride, l->conv.pad);
        w = sqz_conv_out_size(w, l->conv.kernel, l->conv.stride, l->conv.pad);
        break;
      case SQZ_LAYER_MAXPOOL:
        h = sqz_pool_out_size(h, l->pool.kernel, l->pool.stride, l->pool.pad);
        w = sqz_pool_out_size(w, l->pool.kernel, l->pool.stride, l->pool.pad);
        break;
      case SQZ_LAYER_FIRE:
        c = l->fire.expand1x1.out_channels + l->fire.expand3x3.out_channels;
        break;
      case SQZ_LAYER_GLOBAL_AVGPOOL: h = w = 1; break;
    }
    if (h < 1 || w < 1)
      return sqz_fail(SQZ_ERR_INVALID_ARGUMENT,
                      "input %dx%d is too small: layer '%s' gets %dx%d and "
                      "would have an empty output",
                      height, width, l->name, l->in_h, l->in_w);
    l->out_c = c;
    l->out_h = h;
    l->out_w = w;
  }
  m->in_h = height;
  m->in_w = width;
  return SQZ_OK;
}

uint64_t sqz_conv_params(const sqz_conv *c) {
  return (uint64_t)c->out_channels * c->in_channels * c->kernel * c->kernel +
         (uint64_t)c->out_channels;
}

static uint64_t conv_macs(const sqz_conv *c, int out_h, int out_w) {
  return (uint64_t)c->out_channels * c->in_channels * c->kernel * c->kernel * (uint64_t)out_h *
         (uint64_t)out_w;
}

uint64_t sqz_layer_params(const sqz_layer *l) {
  switch (l->kind) {
    case SQZ_LAYER_CONV: return sqz_conv_params(&l->conv);
    case SQZ_LAYER_FIRE: {
      const sqz_fire *f = &l->fire;
      uint64_t p = sqz_conv_params(&f->squeeze) + sqz_conv_params(&f->expand1x1) +
                   sqz_conv_params(&f->expand3x3);
      if (f->bypass == SQZ_BYPASS_COMPLEX) p += sqz_conv_params(&f->shortcut);
      return p;
    }
    default: return 0;
  }
}

uint64_t sqz_layer_macs(const sqz_layer *l) {
  switch (l->kind) {
    case SQZ_LAYER_CONV: return conv_macs(&l->conv, l->out_h, l->out_w);
    case SQZ_LAYER_FIRE: {
      const sqz_fire *f = &l->fire;
      uint64_t n = conv_macs(&f->squeeze, l->out_h, l->out_w) +
                   conv_macs(&f->expand1x1, l->out_h, l->out_w) +
                   conv_macs(&f->expand3x3, l->out_h, l->out_w);
      if (f->bypass == SQZ_BYPASS_COMPLEX) n += conv_macs(&f->shortcut, l->out_h, l->out_w);
      return n;
    }
    default: return 0;
  }
}

const sqz_tensor *sqz_model_find_tensor(const sqz_model *m, const char *name) {
  for (int i = 0; i < m->num_tensors; i++)
    if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
  return NULL;
}

size_t sqz_layers_max_activation(const sqz_layer *layers, int n) {
  size_t best = n > 0 ? (size_t)layers[0].in_c * layers[0].in_h * layers[0].in_w : 0;
  for (int i = 0; i < n; i++) {
    const sqz_layer *l = &layers[i];
    size_t out = (size_t)l->out_c * l->out_h * l->out_w;
    if (out > best) best = out;
  }
  return best;
}

size_t sqz_layers_max_squeeze(const sqz_layer *layers, int n) {
  size_t best = 0;
  for (int i = 0; i < n; i++) {
    const sqz_layer *l = &layers[i];
    if (l->kind != SQZ_LAYER_FIRE) continue;
    size_t s = (size_t)l->fire.squeeze.out_channels * l->out_h * l->out_w;
    if (s > best) best = s;
  }
  return best;
}

void sqz_free_strings(char **list, int n) {
  if (!list) return;
  for (int i = 0; i < n; i++) sqz_free(list[i]);
  sqz_free(list);
}

sqz_status sqz_copy_strings(const char *const *src, int n, char ***out) {
  char **dst = sqz_calloc((size_t)n, sizeof *dst, "labels");
  if (!dst) return SQZ_ERR_OUT_OF_MEMORY;
  for (int i = 0; i < n; i++) {
    if (src && !src[i]) {
      sqz_free_strings(dst, n);
      return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "label %d is NULL", i);
    }
    dst[i] = sqz_strdup(src ? src[i] : "", "label");
    if (!dst[i]) {
      sqz_free_strings(dst, n);
      return SQZ_ERR_OUT_OF_MEMORY;
    }
  }
  *out = dst;
  return SQZ_OK;
}

void sqz_model_adopt_labels(sqz_model *m, char **ids, char **names) {
  sqz_free_strings(m->label_ids, m->num_classes);
  sqz_free_strings(m->label_names, m->num_classes);
  m->label_ids = ids;
  m->label_names = names;
}

sqz_preprocess sqz_preprocess_torchvision(int crop) {
  /* torchvision: resize the shorter side to 256 (or the crop, if larger),
   * divide by 255, subtract mean, divide by std; folded here into pixel
   * units. */
  static const float mean[3] = {0.485f, 0.456f, 0.406f};
  static const float std[3] = {0.229f, 0.224f, 0.225f};
  sqz_preprocess p;
  p.resize_mode = SQZ_RESIZE_SHORTER_SIDE;
  p.resize_size = crop > 256 ? crop : 256;
  p.channel_order = SQZ_ORDER_RGB;
  for (int c = 0; c < 3; c++) {
    p.mean[c] = 255.0f * mean[c];
    p.scale[c] = 1.0f / (255.0f * std[c]);
  }
  return p;
}

sqz_preprocess sqz_preprocess_caffe(void) {
  sqz_preprocess p;
  p.resize_mode = SQZ_RESIZE_STRETCH;
  p.resize_size = 256;
  p.channel_order = SQZ_ORDER_BGR;
  p.mean[0] = 104.0f; /* B */
  p.mean[1] = 117.0f; /* G */
  p.mean[2] = 123.0f; /* R */
  p.scale[0] = p.scale[1] = p.scale[2] = 1.0f;
  return p;
}
