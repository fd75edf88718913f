/* Internal: whole-file reading and atomic writing. */
#ifndef SQZ_MODELS_FILE_UTIL_H
#define SQZ_MODELS_FILE_UTIL_H

#include <stddef.h>
#include <stdio.h>

#include "sqz.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads a whole file of at most max_bytes into a new buffer (NUL-terminated
 * for convenience; *size excludes the NUL). */
sqz_status sqz_read_file(const char *path, size_t max_bytes, char **data, size_t *size);

/* Atomic replacement: open a temporary file beside `path`, write to it,
 * then commit (flush, sync, rename over path) or abort (remove it). */
typedef struct sqz_atomic_file {
  FILE *fp;
  char *tmp_path;
  const char *path;
} sqz_atomic_file;

sqz_status sqz_atomic_open(const char *path, sqz_atomic_file *f);
sqz_status sqz_atomic_write(sqz_atomic_file *f, const void *data, size_t n);
sqz_status sqz_atomic_commit(sqz_atomic_file *f);
void sqz_atomic_abort(sqz_atomic_file *f);

#ifdef __cplusplus
}
#endif

#endif
