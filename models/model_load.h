/* Internal: a model from bytes in memory, its kind recognised by content
 * (sqz_model_load reads the file, then calls this). */
#ifndef SQZ_MODELS_MODEL_LOAD_H
#define SQZ_MODELS_MODEL_LOAD_H

#include <stddef.h>

#include "sqz.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A .sqzw or Deep Compression model from `size` bytes; `origin` names them
 * in messages. */
sqz_status sqz_model_parse(const char *origin, const unsigned char *bytes, size_t size,
                           sqz_model **out);

#ifdef __cplusplus
}
#endif

#endif
