/* Internal: host allocation. All library allocations go through these so
 * that tests can make the N-th one fail and check that nothing leaks and
 * the error is reported. */
#ifndef SQZ_RUNTIME_ALLOC_H
#define SQZ_RUNTIME_ALLOC_H

#include <stddef.h>

#include "sqz.h"

#ifdef __cplusplus
extern "C" {
#endif

/* NULL on failure (with the error message set to say what was asked for). */
void *sqz_malloc(size_t bytes, const char *what);
void *sqz_calloc(size_t count, size_t size, const char *what);
void sqz_free(void *p);
char *sqz_strdup(const char *s, const char *what);

/* Test hook: the n-th allocation from now (1-based) and all after it fail
 * until the hook is reset with n = 0. Shared by host and device allocators.
 * Not for production use. */
void sqz_debug_fail_alloc_after(long n);
/* Test hook: the largest single allocation requested since the last reset
 * (reset non-zero: return it and start again from 0). */
size_t sqz_debug_largest_alloc(int reset);
/* Whether the next allocation must fail (counts it). */
int sqz_debug_alloc_should_fail(void);

#ifdef __cplusplus
}
#endif

#endif
