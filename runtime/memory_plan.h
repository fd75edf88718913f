/* Internal: planning one device allocation for many buffers by liveness.
 * Buffers whose lifetimes (inclusive step ranges) overlap never share
 * bytes; the others may. Pure C, so it is unit-tested without a GPU. */
#ifndef SQZ_RUNTIME_MEMORY_PLAN_H
#define SQZ_RUNTIME_MEMORY_PLAN_H

#include <stddef.h>

#include "sqz.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { SQZ_PLAN_MAX_BUFFERS = 512, SQZ_PLAN_ALIGN = 256 };

typedef struct sqz_plan_buffer {
  size_t bytes;
  int first, last; /* steps during which it is live, first <= last */
  size_t offset;   /* assigned by sqz_plan_finish */
} sqz_plan_buffer;

typedef struct sqz_memory_plan {
  int count;
  sqz_plan_buffer buffers[SQZ_PLAN_MAX_BUFFERS];
  size_t total; /* bytes of the arena, after sqz_plan_finish */
} sqz_memory_plan;

void sqz_plan_init(sqz_memory_plan *p);
/* Adds a buffer; returns its index, or -1 (error set) when full. */
int sqz_plan_add(sqz_memory_plan *p, size_t bytes, int first, int last);
/* Assigns offsets aligned to SQZ_PLAN_ALIGN: largest buffers first, each at
 * the lowest offset that is free for its whole lifetime. */
void sqz_plan_finish(sqz_memory_plan *p);
/* The largest sum of the sizes of buffers live at one step: the lower bound
 * any plan must reach (used by tests and reports). */
size_t sqz_plan_live_peak(const sqz_memory_plan *p);

#ifdef __cplusplus
}
#endif

#endif
