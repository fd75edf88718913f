/* Internal: the model graph. A model is a straight sequence of layers (conv,
 * max pool, Fire, global average pool) plus one block of fp32 weights that
 * the layers point into by offset, its preprocessing and optional labels. */
#ifndef SQZ_RUNTIME_MODEL_H
#define SQZ_RUNTIME_MODEL_H

#include <stddef.h>

#include "sqz.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
  SQZ_MAX_LAYERS = 64,
  SQZ_MAX_NAME = 48,
  SQZ_MAX_CHANNELS = 16384,
  SQZ_MAX_KERNEL = 15,
  SQZ_MAX_STRIDE = 8,
  SQZ_MAX_INPUT_SIZE = 8192,
  SQZ_MAX_TENSORS = 4 * SQZ_MAX_LAYERS * 2
};

/* A convolution with bias: weights OIHW at `weight`, bias at `bias`
 * (offsets in floats into sqz_model.weights). */
typedef struct sqz_conv {
  int in_channels, out_channels;
  int kernel, stride, pad;
  int relu;
  size_t weight, bias;
} sqz_conv;

typedef struct sqz_pool {
  int kernel, stride, pad;
} sqz_pool;

/* squeeze (1x1 + ReLU) -> expand1x1 (+ReLU) and expand3x3 pad 1 (+ReLU),
 * concatenated; then the shortcut: SQZ_BYPASS_SIMPLE adds the input,
 * SQZ_BYPASS_COMPLEX adds `shortcut` (1x1 conv, no ReLU) of the input. */
typedef struct sqz_fire {
  sqz_conv squeeze, expand1x1, expand3x3, shortcut;
  sqz_bypass bypass;
} sqz_fire;

typedef struct sqz_layer {
  char name[SQZ_MAX_NAME];
  sqz_layer_kind kind;
  sqz_conv conv; /* SQZ_LAYER_CONV */
  sqz_pool pool; /* SQZ_LAYER_MAXPOOL */
  sqz_fire fire; /* SQZ_LAYER_FIRE */
  /* Filled by shape inference for the model's input size. */
  int in_c, in_h, in_w;
  int out_c, out_h, out_w;
} sqz_layer;

/* A named view of part of the weight block, in the order the file format
 * and the importers use: per layer, weight then bias; Fire: squeeze,
 * expand1x1, expand3x3, shortcut. */
typedef struct sqz_tensor {
  char name[SQZ_MAX_NAME + 24];
  int ndim;
  int dims[4];
  size_t offset;
  size_t count;
  int fan_in; /* for synthetic initialisation; 0 for biases */
} sqz_tensor;

struct sqz_model {
  char name[64];
  int in_c, in_h, in_w;
  int num_classes;
  int num_layers;
  sqz_layer layers[SQZ_MAX_LAYERS];
  int num_tensors;
  sqz_tensor tensors[SQZ_MAX_TENSORS];
  float *weights;
  size_t num_weights;
  sqz_preprocess preprocess;
  /* Bumped whenever the weights change, so that device copies made from
   * older weights are not shared with new engines. */
  unsigned weights_version;
  char **label_ids;   /* num_classes entries or NULL; an id may be "" */
  char **label_names; /* num_classes entries or NULL */
};

/* Building a model: start, append layers, finish. Names must be unique and
 * nonempty. sqz_model_begin allocates; the caller frees with
 * sqz_model_free on any failure. */
sqz_status sqz_model_begin(const char *name, int in_c, int in_h, int in_w, sqz_model **out);
sqz_status sqz_model_add_conv(sqz_model *m, const char *name, int out_channels, int kernel,
                              int stride, int pad, int relu);
sqz_status sqz_model_add_maxpool(sqz_model *m, const char *name, int kernel, int stride, int pad);
sqz_status sqz_model_add_fire(sqz_model *m, const char *name, int squeeze, int expand1x1,
                              int expand3x3, sqz_bypass bypass);
sqz_status sqz_model_add_global_avgpool(sqz_model *m, const char *name);
/* Checks the structure (last layer a global average pool, channels chain),
 * lays out the weight block (zeroed), lists the tensors, infers shapes. */
sqz_status sqz_model_finish(sqz_model *m);
/* As sqz_model_finish, but refuses (SQZ_ERR_FORMAT, before allocating) an
 * architecture of more than max_weights weights: a file parser passes what
 * its file can hold, so that a few bytes cannot make it allocate gigabytes. */
sqz_status sqz_model_finish_within(sqz_model *m, size_t max_weights);

/* Shape inference for an input size; fills each layer's shapes. Fails with
 * SQZ_ERR_INVALID_ARGUMENT naming the layer whose output would be empty. */
sqz_status sqz_model_infer_shapes(sqz_model *m, int height, int width);

/* Output size of a convolution, and of a ceil-mode max pool (a window must
 * start inside the input or its left padding). 0 or less means empty. */
int sqz_conv_out_size(int in, int kernel, int stride, int pad);
int sqz_pool_out_size(int in, int kernel, int stride, int pad);

uint64_t sqz_conv_params(const sqz_conv *c);
uint64_t sqz_layer_params(const sqz_layer *l);
uint64_t sqz_layer_macs(const sqz_layer *l);

/* The tensor named `name`, or NULL. */
const sqz_tensor *sqz_model_find_tensor(const sqz_model *m, const char *name);

/* Fills the weights with the deterministic synthetic initialisation. */
void sqz_model_init_synthetic(sqz_model *m, uint64_t seed);

/* Preprocessing presets. */
sqz_preprocess sqz_preprocess_torchvision(int crop);
sqz_preprocess sqz_preprocess_caffe(void);

/* Takes ownership of the label arrays (num_classes entries each). */
void sqz_model_adopt_labels(sqz_model *m, char **ids, char **names);

/* String lists: n copies of src (src NULL: n empty strings), and freeing. */
sqz_status sqz_copy_strings(const char *const *src, int n, char ***out);
void sqz_free_strings(char **list, int n);

/* Largest activation (channels x height x width, one image) of any layer
 * input or output, and the largest Fire squeeze output, of inferred layers. */
size_t sqz_layers_max_activation(const sqz_layer *layers, int n);
size_t sqz_layers_max_squeeze(const sqz_layer *layers, int n);

#ifdef __cplusplus
}
#endif

#endif
