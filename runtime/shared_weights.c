#include "shared_weights.h"

#include <pthread.h>

#include "alloc.h"
#include "error.h"

typedef struct entry {
  const sqz_model *model;
  unsigned version;
  int device;
  uint32_t format;
  void *ptr;
  void (*free)(void *ptr, int device);
  int refs;
  struct entry *next;
} entry;

/* One lock for all models: only engine creation and destruction take it. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static entry *entries;

sqz_status sqz_shared_weights_acquire(const sqz_model *m, int device, uint32_t format,
                                      const sqz_weights_maker *maker, void **ptr, int *shared) {
  pthread_mutex_lock(&lock);
  for (entry *e = entries; e; e = e->next) {
    if (e->model == m && e->version == m->weights_version && e->device == device &&
        e->format == format) {
      e->refs++;
      *ptr = e->ptr;
      *shared = 1;
      pthread_mutex_unlock(&lock);
      return SQZ_OK;
    }
  }
  /* Made under the lock, so two engines created at once share one copy. */
  entry *e = sqz_calloc(1, sizeof *e, "shared weights entry");
  sqz_status st = e ? SQZ_OK : SQZ_ERR_OUT_OF_MEMORY;
  size_t bytes = 0;
  if (st == SQZ_OK) st = maker->make(maker->context, &e->ptr, &bytes);
  if (st != SQZ_OK) {
    sqz_free(e);
    pthread_mutex_unlock(&lock);
    return st;
  }
  e->model = m;
  e->version = m->weights_version;
  e->device = device;
  e->format = format;
  e->free = maker->free;
  e->refs = 1;
  e->next = entries;
  entries = e;
  *ptr = e->ptr;
  *shared = 0;
  pthread_mutex_unlock(&lock);
  return SQZ_OK;
}

void sqz_shared_weights_release(void *ptr) {
  if (!ptr) return;
  pthread_mutex_lock(&lock);
  for (entry **link = &entries; *link; link = &(*link)->next) {
    entry *e = *link;
    if (e->ptr != ptr) continue;
    if (--e->refs == 0) {
      *link = e->next;
      e->free(e->ptr, e->device);
      sqz_free(e);
    }
    break;
  }
  pthread_mutex_unlock(&lock);
}

int sqz_shared_weights_refs(const void *ptr) {
  int refs = 0;
  pthread_mutex_lock(&lock);
  for (entry *e = entries; e; e = e->next)
    if (e->ptr == ptr) refs = e->refs;
  pthread_mutex_unlock(&lock);
  return refs;
}
