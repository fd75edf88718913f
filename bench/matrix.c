/* sqz-bench: enumerating the configurations (see matrix.h). */
#include "matrix.h"

#include <stdio.h>
#include <stdlib.h>

int bench_input_size(const bench_model *m, int option) { return option > 0 ? option : m->native_h; }

typedef struct config_list {
  bench_config *items;
  int count, capacity;
} config_list;

static int push(config_list *l, const bench_config *c) {
  if (l->count == l->capacity) {
    int cap = l->capacity ? 2 * l->capacity : 64;
    bench_config *grown = realloc(l->items, (size_t)cap * sizeof *grown);
    if (!grown) {
      fprintf(stderr, "sqz-bench: out of memory for the matrix\n");
      return -1;
    }
    l->items = grown;
    l->capacity = cap;
  }
  l->items[l->count++] = *c;
  return 0;
}

/* Distinct input sizes of a model (several "model" entries are one). */
static int model_inputs(const bench_options *opt, const bench_model *m, int *sizes) {
  int n = 0;
  for (int i = 0; i < opt->num_inputs; i++) {
    int s = bench_input_size(m, opt->inputs[i]), seen = 0;
    for (int j = 0; j < n; j++) seen |= sizes[j] == s;
    if (!seen) sizes[n++] = s;
  }
  return n;
}

static int add_matrix_model(const bench_options *opt, const bench_model *m, int index,
                            config_list *l) {
  const unsigned matrix_kinds =
      opt->kinds & ((1u << BENCH_FORWARD) | (1u << BENCH_E2E) | (1u << BENCH_LAYERS));
  if (!matrix_kinds) return 0;
  int sizes[BENCH_MAX_LIST];
  int ns = model_inputs(opt, m, sizes);
  for (int s = 0; s < ns; s++)
    for (int b = 0; b < opt->num_backends; b++)
      for (int p = 0; p < opt->num_precisions; p++)
        for (int n = 0; n < opt->num_batches; n++) {
          int cpu = opt->backends[b] == SQZ_BACKEND_CPU;
          int num_graphs = cpu ? 1 : opt->num_graphs;
          for (int g = 0; g < num_graphs; g++) {
            bench_config c = {.model = index,
                              .backend = opt->backends[b],
                              .precision = opt->precisions[p],
                              .batch = opt->batches[n],
                              .input = sizes[s],
                              .graphs = cpu ? 0 : opt->graphs[g],
                              .kinds = matrix_kinds};
            if (g > 0) c.kinds &= ~(1u << BENCH_LAYERS); /* profiling runs without graphs */
            if (!c.kinds) continue;
            if (push(l, &c)) return -1;
          }
        }
  return 0;
}

static int add_sweep_model(const bench_options *opt, const bench_model *m, int index,
                           config_list *l) {
  int sizes[BENCH_MAX_LIST];
  int ns = model_inputs(opt, m, sizes);
  for (int s = 0; s < ns; s++)
    for (int b = 0; b < opt->num_sweep_backends; b++)
      for (int p = 0; p < opt->num_precisions; p++)
        for (int n = 0; n < opt->num_sweep_batches; n++) {
          int cpu = opt->sweep_backends[b] == SQZ_BACKEND_CPU;
          bench_config c = {.model = index,
                            .backend = opt->sweep_backends[b],
                            .precision = opt->precisions[p],
                            .batch = opt->sweep_batches[n],
                            .input = sizes[s],
                            .graphs = cpu ? 0 : opt->graphs[0],
                            .kinds = 1u << BENCH_SWEEP};
          if (push(l, &c)) return -1;
        }
  return 0;
}

int bench_build_matrix(const bench_options *opt, const bench_model *models, int num_models,
                       int sweep_start, bench_config **out) {
  config_list l = {NULL, 0, 0};
  for (int i = 0; i < num_models; i++) {
    int rc = i < sweep_start ? add_matrix_model(opt, &models[i], i, &l)
                             : add_sweep_model(opt, &models[i], i, &l);
    if (rc) {
      free(l.items);
      *out = NULL;
      return -1;
    }
  }
  *out = l.items;
  return l.count;
}
