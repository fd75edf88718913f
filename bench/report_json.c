/* sqz-bench: the JSON output. The schema is described in docs/benchmarks.md;
 * bench/check_results.py validates it. */
#include <stdint.h>
#include <string.h>

#include "bench_version.h"
#include "json_writer.h"
#include "report.h"

static void optional_mhz(json_writer *w, const char *key, double mhz) {
  if (mhz >= 0)
    json_double(w, key, mhz);
  else
    json_null(w, key);
}

static void optional_string(json_writer *w, const char *key, const char *s) {
  json_string(w, key, s && s[0] ? s : NULL);
}

static void write_device(json_writer *w, const bench_device_info *d) {
  json_begin_object(w, "device");
  json_string(w, "name", d->name);
  json_string(w, "type", d->is_gpu ? "gpu" : "cpu");
  optional_mhz(w, "sm_clock_mhz", d->sm_clock_mhz);
  optional_mhz(w, "memory_clock_mhz", d->memory_clock_mhz);
  optional_mhz(w, "sm_clock_current_mhz", d->sm_clock_current_mhz);
  optional_mhz(w, "memory_clock_current_mhz", d->memory_clock_current_mhz);
  optional_mhz(w, "sm_clock_max_mhz", d->sm_clock_max_mhz);
  optional_mhz(w, "memory_clock_max_mhz", d->memory_clock_max_mhz);
  optional_string(w, "driver", d->driver);
  optional_string(w, "driver_cuda", d->driver_api);
  optional_string(w, "cuda", d->cuda);
  optional_string(w, "cudnn", d->cudnn);
  optional_string(w, "cublas", d->cublas);
  optional_string(w, "compute_capability", d->compute_capability);
  if (d->is_gpu) {
    json_int(w, "sm_count", d->sm_count);
    json_uint(w, "memory_bytes", d->memory_bytes);
    json_int(w, "memory_bus_bits", d->memory_bus_bits);
    optional_string(w, "pci_bus_id", d->pci_bus_id);
  }
  json_end_object(w);
  json_begin_object(w, "host");
  json_string(w, "cpu", d->host_cpu);
  json_int(w, "cores", d->host_cores);
  json_string(w, "os", d->host_os);
  json_end_object(w);
}

static void write_settings(json_writer *w, const bench_report *r) {
  const bench_options *o = r->opt;
  json_begin_object(w, "settings");
  json_int(w, "warmup", o->warmup);
  json_int(w, "iters", o->iters);
  json_int(w, "min_iters", o->min_iters);
  json_int(w, "max_iters", o->max_iters);
  json_double(w, "min_time_ms", o->min_time_ms);
  json_int(w, "topk", o->topk);
  json_uint(w, "seed", o->seed);
  json_bool(w, "tf32", o->tf32);
  json_int(w, "device_index", o->device);
  json_int(w, "cpu_threads", o->threads);
  json_string(w, "ratio_base",
              r->ratio_base == SQZ_BACKEND_AUTO ? NULL : sqz_backend_name(r->ratio_base));
  json_end_object(w);
}

static void write_grid(json_writer *w, int grid) {
  json_begin_array(w, "grid");
  if (grid & BENCH_GRID_SR) json_string(w, NULL, "sr");
  if (grid & BENCH_GRID_PCT) json_string(w, NULL, "pct");
  json_end_array(w);
}

static void write_models(json_writer *w, const bench_report *r) {
  json_begin_array(w, "models");
  for (int i = 0; i < r->num_models; i++) {
    const bench_model *m = &r->models[i];
    json_begin_object(w, NULL);
    json_string(w, "model", m->label);
    json_string(w, "spec", m->spec);
    json_string(w, "name", sqz_model_name(m->model));
    optional_string(w, "file", m->file);
    json_uint(w, "params", sqz_model_param_count(m->model));
    json_int(w, "native_input", m->native_h);
    json_int(w, "num_classes", sqz_model_num_classes(m->model));
    json_bool(w, "sweep", i >= r->sweep_start);
    json_end_object(w);
  }
  json_end_array(w);
}

static void write_key_fields(json_writer *w, const bench_report *r, const bench_result *x) {
  json_string(w, "model", r->models[x->model].label);
  json_string(w, "backend", sqz_backend_name(x->backend));
  json_string(w, "precision", sqz_precision_name(x->precision));
  json_int(w, "batch", x->batch);
  json_int(w, "input", x->input);
  json_bool(w, "graphs", x->graphs);
  json_string(w, "kind", bench_kind_name(x->kind));
}

static void write_result(json_writer *w, const bench_report *r, const bench_result *x) {
  const bench_model *m = &r->models[x->model];
  json_begin_object(w, NULL);
  write_key_fields(w, r, x);
  json_double(w, "median_ms", x->stats.median_ms);
  json_double(w, "p90_ms", x->stats.p90_ms);
  json_double(w, "p99_ms", x->stats.p99_ms);
  json_double(w, "min_ms", x->stats.min_ms);
  json_double(w, "max_ms", x->stats.max_ms);
  json_double(w, "mean_ms", x->stats.mean_ms);
  json_int(w, "iterations", x->stats.iterations);
  json_double(w, "images_per_s", x->images_per_s);
  json_uint(w, "peak_bytes", x->peak_bytes);
  json_begin_object(w, "memory");
  json_uint(w, "weights_bytes", x->memory.weight_bytes);
  json_uint(w, "activations_bytes", x->memory.activation_bytes);
  json_uint(w, "workspace_bytes", x->memory.workspace_bytes);
  json_uint(w, "staging_bytes", x->memory.staging_bytes);
  if (x->device_delta_bytes != INT64_MIN)
    json_int(w, "device_delta_bytes", x->device_delta_bytes);
  else
    json_null(w, "device_delta_bytes");
  json_end_object(w);
  json_string(w, "timer", x->timer);
  json_double(w, "create_ms", x->create_ms);
  json_uint(w, "params", x->params);
  json_uint(w, "macs", x->macs);
  if (x->output_checked)
    json_bool(w, "output_finite", x->output_finite);
  else
    json_null(w, "output_finite");
  json_string(w, "description", x->description);
  if (x->kind == BENCH_E2E) json_int(w, "topk", x->topk);
  if (x->kind == BENCH_SWEEP) {
    json_begin_object(w, "sweep");
    write_grid(w, m->grid);
    json_double(w, "squeeze_ratio", m->squeeze_ratio);
    json_double(w, "pct_3x3", m->pct_3x3);
    json_end_object(w);
  }
  if (x->kind == BENCH_LAYERS) {
    json_begin_array(w, "layers");
    for (int l = 0; l < x->num_layers; l++) {
      static const char *const kinds[] = {"conv", "maxpool", "fire", "avgpool"};
      json_begin_object(w, NULL);
      json_string(w, "name", x->layers[l].name);
      json_string(w, "kind", (unsigned)x->layers[l].kind < 4 ? kinds[x->layers[l].kind] : "?");
      json_double(w, "median_ms", x->layers[l].median_ms);
      json_double(w, "min_ms", x->layers[l].min_ms);
      json_end_object(w);
    }
    json_end_array(w);
  }
  json_end_object(w);
}

static void write_rows(json_writer *w, const bench_report *r, const char *key,
                       bench_status status) {
  json_begin_array(w, key);
  for (int i = 0; i < r->results->count; i++) {
    const bench_result *x = &r->results->items[i];
    if (x->status != status) continue;
    if (status == BENCH_MEASURED) {
      write_result(w, r, x);
    } else {
      json_begin_object(w, NULL);
      write_key_fields(w, r, x);
      json_string(w, "reason", x->message);
      json_end_object(w);
    }
  }
  json_end_array(w);
}

static void write_ratios(json_writer *w, const bench_report *r) {
  json_begin_array(w, "ratios");
  for (int i = 0; i < r->num_ratios; i++) {
    const bench_result *b = &r->results->items[r->ratios[i].base];
    const bench_result *o = &r->results->items[r->ratios[i].other];
    json_begin_object(w, NULL);
    json_string(w, "model", r->models[b->model].label);
    json_string(w, "kind", bench_kind_name(b->kind));
    json_string(w, "precision", sqz_precision_name(b->precision));
    json_int(w, "batch", b->batch);
    json_int(w, "input", b->input);
    json_bool(w, "graphs", b->graphs);
    json_string(w, "base", sqz_backend_name(b->backend));
    json_string(w, "other", sqz_backend_name(o->backend));
    json_double(w, "base_median_ms", b->stats.median_ms);
    json_double(w, "other_median_ms", o->stats.median_ms);
    json_double(w, "speedup", r->ratios[i].speedup);
    json_end_object(w);
  }
  json_end_array(w);
}

/* One entry per sweep model and input size: its size and its timings. */
static void write_sweep(json_writer *w, const bench_report *r) {
  json_begin_array(w, "sweep");
  for (int mi = r->sweep_start; mi < r->num_models; mi++) {
    const bench_model *m = &r->models[mi];
    int inputs[64], ni = 0;
    for (int i = 0; i < r->results->count; i++) {
      const bench_result *x = &r->results->items[i];
      if (x->model != mi || x->kind != BENCH_SWEEP) continue;
      int seen = 0;
      for (int j = 0; j < ni; j++) seen |= inputs[j] == x->input;
      if (!seen && ni < 64) inputs[ni++] = x->input;
    }
    for (int ii = 0; ii < ni; ii++) {
      const bench_result *any = NULL;
      for (int i = 0; i < r->results->count && !any; i++) {
        const bench_result *x = &r->results->items[i];
        if (x->model == mi && x->kind == BENCH_SWEEP && x->input == inputs[ii]) any = x;
      }
      json_begin_object(w, NULL);
      json_string(w, "model", m->label);
      write_grid(w, m->grid);
      json_double(w, "squeeze_ratio", m->squeeze_ratio);
      json_double(w, "pct_3x3", m->pct_3x3);
      json_int(w, "input", inputs[ii]);
      json_uint(w, "params", any->params);
      json_uint(w, "model_bytes_fp32", any->params * 4);
      json_uint(w, "model_bytes_fp16", any->params * 2);
      json_uint(w, "macs", any->macs);
      json_begin_array(w, "timings");
      for (int i = 0; i < r->results->count; i++) {
        const bench_result *x = &r->results->items[i];
        if (x->model != mi || x->kind != BENCH_SWEEP || x->input != inputs[ii] ||
            x->status != BENCH_MEASURED)
          continue;
        json_begin_object(w, NULL);
        json_string(w, "backend", sqz_backend_name(x->backend));
        json_string(w, "precision", sqz_precision_name(x->precision));
        json_int(w, "batch", x->batch);
        json_double(w, "median_ms", x->stats.median_ms);
        json_double(w, "images_per_s", x->images_per_s);
        json_end_object(w);
      }
      json_end_array(w);
      json_end_object(w);
    }
  }
  json_end_array(w);
}

void bench_write_json(FILE *out, void *report) {
  const bench_report *r = report;
  json_writer w;
  json_init(&w, out);
  json_inline_from(&w, 3); /* one line per row, model, ratio */
  json_begin_object(&w, NULL);
  json_string(&w, "schema", "sqz-bench/1");
  json_string(&w, "tool", "sqz-bench");
  json_string(&w, "sqz_version", sqz_version());
  json_string(&w, "created", r->created);
  json_string(&w, "command", r->opt->command_line);
  json_double(&w, "wall_s", r->wall_s);
  write_device(&w, r->device);
  json_string(&w, "git", SQZ_BENCH_GIT_COMMIT);
  json_bool(&w, "git_dirty", SQZ_BENCH_GIT_DIRTY);
  write_settings(&w, r);
  write_models(&w, r);
  write_rows(&w, r, "results", BENCH_MEASURED);
  write_rows(&w, r, "skipped", BENCH_SKIPPED);
  write_rows(&w, r, "failed", BENCH_FAILED);
  write_ratios(&w, r);
  write_sweep(&w, r);
  json_end_object(&w);
  json_finish(&w);
}
