#include "memory_plan.h"

#include <stdlib.h>

#include "error.h"

void sqz_plan_init(sqz_memory_plan *p) {
  p->count = 0;
  p->total = 0;
}

static size_t align_up(size_t n) {
  return (n + SQZ_PLAN_ALIGN - 1) / SQZ_PLAN_ALIGN * SQZ_PLAN_ALIGN;
}

int sqz_plan_add(sqz_memory_plan *p, size_t bytes, int first, int last) {
  if (p->count >= SQZ_PLAN_MAX_BUFFERS) {
    sqz_fail(SQZ_ERR_INTERNAL, "memory plan: more than %d buffers", SQZ_PLAN_MAX_BUFFERS);
    return -1;
  }
  sqz_plan_buffer *b = &p->buffers[p->count];
  b->bytes = align_up(bytes ? bytes : 1);
  b->first = first < last ? first : last;
  b->last = first < last ? last : first;
  b->offset = 0;
  return p->count++;
}

static int overlaps_in_time(const sqz_plan_buffer *a, const sqz_plan_buffer *b) {
  return a->first <= b->last && b->first <= a->last;
}

void sqz_plan_finish(sqz_memory_plan *p) {
  /* Placement order: indices sorted by size, largest first (insertion sort:
   * a few hundred buffers at most). */
  int order[SQZ_PLAN_MAX_BUFFERS];
  for (int i = 0; i < p->count; i++) {
    int j = i;
    while (j > 0 && p->buffers[order[j - 1]].bytes < p->buffers[i].bytes) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = i;
  }
  p->total = 0;
  for (int k = 0; k < p->count; k++) {
    sqz_plan_buffer *b = &p->buffers[order[k]];
    /* Try offset 0 and the end of every placed buffer that is live at the
     * same time; keep the lowest that collides with none of them. */
    size_t best = (size_t)-1;
    for (int c = -1; c < k; c++) {
      size_t candidate = 0;
      if (c >= 0) {
        const sqz_plan_buffer *o = &p->buffers[order[c]];
        if (!overlaps_in_time(b, o)) continue;
        candidate = o->offset + o->bytes;
      }
      if (candidate >= best) continue;
      int free = 1;
      for (int j = 0; j < k && free; j++) {
        const sqz_plan_buffer *o = &p->buffers[order[j]];
        if (overlaps_in_time(b, o) && candidate < o->offset + o->bytes &&
            o->offset < candidate + b->bytes)
          free = 0;
      }
      if (free) best = candidate;
    }
    b->offset = best;
    if (best + b->bytes > p->total) p->total = best + b->bytes;
  }
}

size_t sqz_plan_live_peak(const sqz_memory_plan *p) {
  size_t peak = 0;
  for (int i = 0; i < p->count; i++) {
    /* The live sum is largest at some buffer's first step. */
    int step = p->buffers[i].first;
    size_t sum = 0;
    for (int j = 0; j < p->count; j++)
      if (p->buffers[j].first <= step && step <= p->buffers[j].last) sum += p->buffers[j].bytes;
    if (sum > peak) peak = sum;
  }
  return peak;
}
