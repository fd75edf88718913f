/* sqz-bench: writing an output file atomically. */
#ifndef SQZ_BENCH_ATOMIC_FILE_H
#define SQZ_BENCH_ATOMIC_FILE_H

#include <stdio.h>

/* Calls write(out, ctx) on a temporary file beside `path`
 * ("PATH.tmp.XXXXXX"), flushes and syncs it, and renames it over `path`
 * only if everything succeeded; otherwise removes it and leaves `path` as
 * it was. Returns 0, or -1 after printing why on stderr. */
int bench_write_atomically(const char *path, void (*write)(FILE *out, void *ctx), void *ctx);

#endif
