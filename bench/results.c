/* sqz-bench: result rows and speed-ups between backends of the same run. */
#include "results.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *bench_kind_name(bench_kind kind) {
  static const char *const names[] = {"forward", "e2e", "layers", "sweep"};
  return (unsigned)kind < BENCH_NUM_KINDS ? names[kind] : "unknown";
}

const char *bench_onoff(int value) { return value ? "on" : "off"; }

bench_result *bench_results_add(bench_result_list *list) {
  if (list->count == list->capacity) {
    int cap = list->capacity ? 2 * list->capacity : 64;
    bench_result *items = realloc(list->items, (size_t)cap * sizeof *items);
    if (!items) {
      fprintf(stderr, "sqz-bench: out of memory for results\n");
      return NULL;
    }
    list->items = items;
    list->capacity = cap;
  }
  bench_result *r = &list->items[list->count++];
  memset(r, 0, sizeof *r);
  r->device_delta_bytes = INT64_MIN; /* not measured */
  return r;
}

void bench_results_free(bench_result_list *list) {
  for (int i = 0; i < list->count; i++) free(list->items[i].layers);
  free(list->items);
  list->items = NULL;
  list->count = list->capacity = 0;
}

int bench_results_count(const bench_result_list *list, bench_status status) {
  int n = 0;
  for (int i = 0; i < list->count; i++) n += list->items[i].status == status;
  return n;
}

static int has_backend(const bench_result_list *list, sqz_backend b) {
  for (int i = 0; i < list->count; i++)
    if (list->items[i].status == BENCH_MEASURED && list->items[i].backend == b) return 1;
  return 0;
}

sqz_backend bench_ratio_base(const bench_result_list *list, sqz_backend wanted) {
  static const sqz_backend order[] = {SQZ_BACKEND_FUSED, SQZ_BACKEND_UNFUSED, SQZ_BACKEND_CUDNN,
                                      SQZ_BACKEND_CPU};
  if (has_backend(list, wanted)) return wanted;
  for (size_t i = 0; i < sizeof order / sizeof *order; i++)
    if (has_backend(list, order[i])) return order[i];
  return SQZ_BACKEND_AUTO;
}

static int same_group(const bench_result *a, const bench_result *b) {
  return a->model == b->model && a->kind == b->kind && a->precision == b->precision &&
         a->batch == b->batch && a->input == b->input && a->graphs == b->graphs;
}

int bench_compute_ratios(const bench_result_list *list, sqz_backend base, bench_ratio **out) {
  *out = NULL;
  int n = 0, cap = 0;
  for (int i = 0; i < list->count; i++) {
    const bench_result *b = &list->items[i];
    if (b->status != BENCH_MEASURED || b->backend != base || !(b->stats.median_ms > 0)) continue;
    for (int j = 0; j < list->count; j++) {
      const bench_result *o = &list->items[j];
      if (j == i || o->status != BENCH_MEASURED || o->backend == base || !same_group(b, o))
        continue;
      if (n == cap) {
        cap = cap ? 2 * cap : 64;
        bench_ratio *grown = realloc(*out, (size_t)cap * sizeof *grown);
        if (!grown) {
          free(*out);
          *out = NULL;
          fprintf(stderr, "sqz-bench: out of memory for ratios\n");
          return -1;
        }
        *out = grown;
      }
      (*out)[n].base = i;
      (*out)[n].other = j;
      (*out)[n].speedup = o->stats.median_ms / b->stats.median_ms;
      n++;
    }
  }
  return n;
}
