/* sqz-bench: the configurations to run, from the options and the models. */
#ifndef SQZ_BENCH_MATRIX_H
#define SQZ_BENCH_MATRIX_H

#include "bench.h"
#include "options.h"

/* Models [0, sweep_start) are the matrix's, [sweep_start, num_models) the
 * sweep's. One configuration per engine: model x input x backend x
 * precision x batch x graphs for the matrix (the cpu backend once, without
 * graphs; the layers mode once per engine setting, on the first graphs
 * value); model x input x sweep backend x precision x sweep batch on the
 * first graphs value for the sweep. *out is malloc'd. Returns the count,
 * or -1 when out of memory (printed). */
int bench_build_matrix(const bench_options *opt, const bench_model *models, int num_models,
                       int sweep_start, bench_config **out);

/* The input size a configuration uses: the option, or the model's own. */
int bench_input_size(const bench_model *m, int option);

#endif
