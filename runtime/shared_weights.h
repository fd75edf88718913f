/* Internal: device weights shared by the engines made from one model. An
 * entry is keyed by the model, its weights' version, the device and the
 * backend's packing; engines hold references, and the last one to go frees
 * the device copy. Pure C (the device work is done by callbacks). */
#ifndef SQZ_RUNTIME_SHARED_WEIGHTS_H
#define SQZ_RUNTIME_SHARED_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sqz_weights_maker {
  /* Makes the device copy: *ptr and *bytes on success. */
  sqz_status (*make)(void *context, void **ptr, size_t *bytes);
  /* Frees a copy made by make. */
  void (*free)(void *ptr, int device);
  void *context;
} sqz_weights_maker;

/* The shared copy for (model, device, format), made with `maker` if there
 * is none yet. `*shared` says whether it already existed. */
sqz_status sqz_shared_weights_acquire(const sqz_model *m, int device, uint32_t format,
                                      const sqz_weights_maker *maker, void **ptr, int *shared);
/* Drops one reference to ptr (from acquire). */
void sqz_shared_weights_release(void *ptr);
/* References to ptr currently held (0 if unknown); for tests. */
int sqz_shared_weights_refs(const void *ptr);

#ifdef __cplusplus
}
#endif

#endif
