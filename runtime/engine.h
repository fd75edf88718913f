/* Internal: the engine object and the interface every backend implements. */
#ifndef SQZ_RUNTIME_ENGINE_H
#define SQZ_RUNTIME_ENGINE_H

#include "model.h"
#include "sqz.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sqz_backend_ops {
  /* Validated io (batch in range, pointers set). */
  sqz_status (*run_async)(sqz_engine *e, const sqz_io *io);
  sqz_status (*synchronize)(sqz_engine *e);
  /* One run timed per layer (io validated); see sqz_engine_profile. */
  sqz_status (*profile)(sqz_engine *e, const sqz_io *io, float *layer_ms);
  /* The stream runs go to (NULL when there is none). */
  void *(*stream)(const sqz_engine *e);
  /* Switch to another stream (already validated); NULL: the own one. */
  sqz_status (*set_stream)(sqz_engine *e, void *stream);
  void (*destroy)(sqz_engine *e);
} sqz_backend_ops;

struct sqz_engine {
  const sqz_model *model; /* weights and preprocessing; not owned */
  /* The layers with their shapes at creation: the model's input size may be
   * changed later without affecting this engine. */
  int num_layers;
  sqz_layer layers[SQZ_MAX_LAYERS];
  int in_c, in_h, in_w, num_classes;
  sqz_engine_options options; /* backend resolved */
  char description[1024];
  sqz_memory_report memory; /* filled by the backend at creation */
  const sqz_backend_ops *ops;
  void *impl;
};

/* Backend constructors: fill e->ops, e->impl and the description. They may
 * assume e's model fields and options are set and valid. */
sqz_status sqz_cpu_engine_create(sqz_engine *e);
sqz_status sqz_gpu_engine_create(sqz_engine *e); /* cudnn, unfused, fused */

/* Input conversion on the host: one image into NCHW floats. */
void sqz_u8_to_nchw(const uint8_t *rgb, int h, int w, const sqz_preprocess *p, float *out);
void sqz_nhwc_to_nchw(const float *in, int c, int h, int w, float *out);

#ifdef __cplusplus
}
#endif

#endif
