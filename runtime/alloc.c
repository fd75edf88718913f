#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* 0: off. Otherwise the number of allocations still allowed plus one. */
static atomic_long fail_countdown;

void sqz_debug_fail_alloc_after(long n) { atomic_store(&fail_countdown, n); }

int sqz_debug_alloc_should_fail(void) {
  long left = atomic_load(&fail_countdown);
  while (left > 0) {
    if (left == 1) return 1; /* stays at 1: every later allocation fails */
    if (atomic_compare_exchange_weak(&fail_countdown, &left, left - 1)) return 0;
  }
  return 0;
}

/* The largest single request since the last reset (the fuzz replays check
 * that no small input asks for gigabytes). */
static _Atomic size_t largest_request;

static void note_request(size_t bytes) {
  size_t seen = atomic_load(&largest_request);
  while (bytes > seen && !atomic_compare_exchange_weak(&largest_request, &seen, bytes)) {
  }
}

size_t sqz_debug_largest_alloc(int reset) {
  return reset ? atomic_exchange(&largest_request, 0) : atomic_load(&largest_request);
}

void *sqz_malloc(size_t bytes, const char *what) {
  note_request(bytes);
  void *p = sqz_debug_alloc_should_fail() ? NULL : malloc(bytes ? bytes : 1);
  if (!p)
    sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "out of host memory allocating %zu bytes for %s", bytes, what);
  return p;
}

void *sqz_calloc(size_t count, size_t size, const char *what) {
  if (size && count > (size_t)-1 / size) {
    sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "allocation size overflow for %s", what);
    return NULL;
  }
  note_request(count * size);
  void *p = sqz_debug_alloc_should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
  if (!p)
    sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "out of host memory allocating %zu x %zu bytes for %s", count,
             size, what);
  return p;
}

void sqz_free(void *p) { free(p); }

char *sqz_strdup(const char *s, const char *what) {
  size_t n = strlen(s) + 1;
  char *copy = sqz_malloc(n, what);
  if (copy) memcpy(copy, s, n);
  return copy;
}
