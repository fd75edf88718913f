/* sqz-bench: model specs ("v1.1", "meta:SR=0.25,pct=0.5", a file) to models,
 * the design-space sweep's grid, and saving models for compare_torch.py. */
#ifndef SQZ_BENCH_MODEL_SPEC_H
#define SQZ_BENCH_MODEL_SPEC_H

#include "bench.h"

/* Loads `spec` into *out (label, spec, model, native size). Built-ins and
 * meta: models get synthetic weights from seed. Returns BENCH_OK,
 * BENCH_USAGE_ERROR for a malformed meta: spec, or BENCH_RUNTIME_ERROR
 * (the message printed on stderr either way). */
int bench_model_load(const char *spec, uint64_t seed, bench_model *out);

/* Parses the key=value part of a meta: spec into *p (starting from v1.0's
 * metaparameters); returns 0, or -1 with the reason in why. */
int bench_meta_parse(const char *keys, sqz_metaparams *p, char *why, size_t why_size);

/* The sweep's models: SR grid then pct_3x3 grid, the shared point (SR 0.5,
 * pct 0.5) once. Fills up to max models; returns how many, or -1 on error
 * (printed). */
int bench_sweep_models(uint64_t seed, bench_model *out, int max);

/* Saves the model as <dir>/<label with unsafe characters replaced>.sqzw and
 * records the path in m->file. Returns BENCH_OK or BENCH_RUNTIME_ERROR. */
int bench_model_save(bench_model *m, const char *dir);

void bench_model_free(bench_model *m);

#endif
