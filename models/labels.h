/* Internal: class labels from text held in memory (sqz_model_load_labels
 * reads the file, then calls this). */
#ifndef SQZ_MODELS_LABELS_H
#define SQZ_MODELS_LABELS_H

#include <stddef.h>

#include "sqz.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Replaces m's labels with the lines of `text` (size bytes; no terminating
 * NUL needed), one class per line as sqz_model_load_labels says. `origin`
 * names the text in messages. On failure the labels are unchanged. */
sqz_status sqz_model_parse_labels(sqz_model *m, const char *origin, const char *text, size_t size);

#ifdef __cplusplus
}
#endif

#endif
