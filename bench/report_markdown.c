/* sqz-bench: the Markdown tables: results, speed-ups between backends of
 * this run, per-layer times, the design-space sweep, skipped and failed
 * configurations. */
#include <math.h>
#include <string.h>

#include "bench_version.h"
#include "report.h"

/* Up to 8 backends in a fixed order for columns. */
static const sqz_backend kColumnOrder[] = {SQZ_BACKEND_FUSED, SQZ_BACKEND_CUDNN,
                                           SQZ_BACKEND_UNFUSED, SQZ_BACKEND_CPU};
enum { NUM_COLUMNS = 4 };

static const char *fmt_ms(char *buf, size_t size, double ms) {
  if (!isfinite(ms))
    snprintf(buf, size, "-");
  else if (ms >= 100)
    snprintf(buf, size, "%.1f", ms);
  else if (ms >= 10)
    snprintf(buf, size, "%.2f", ms);
  else if (ms >= 1)
    snprintf(buf, size, "%.3f", ms);
  else
    snprintf(buf, size, "%.4f", ms);
  return buf;
}

static const char *fmt_rate(char *buf, size_t size, double v) {
  if (!isfinite(v))
    snprintf(buf, size, "-");
  else if (v >= 100)
    snprintf(buf, size, "%.0f", v);
  else
    snprintf(buf, size, "%.2f", v);
  return buf;
}

static const char *fmt_mib(char *buf, size_t size, double bytes) {
  snprintf(buf, size, "%.1f", bytes / (1024.0 * 1024.0));
  return buf;
}

static void write_header(FILE *out, const bench_report *r) {
  const bench_device_info *d = r->device;
  fprintf(out, "## sqz-bench on %s\n\n", d->name);
  if (d->is_gpu)
    fprintf(out,
            "%s (sm_%s, %d SMs, %.0f MHz SM / %.0f MHz memory peak), driver %s (CUDA %s), "
            "CUDA runtime %s, cuDNN %s, cuBLAS %s. ",
            d->name, d->compute_capability, d->sm_count, d->sm_clock_mhz, d->memory_clock_mhz,
            d->driver[0] ? d->driver : "?", d->driver_api[0] ? d->driver_api : "?",
            d->cuda[0] ? d->cuda : "?", d->cudnn[0] ? d->cudnn : "-",
            d->cublas[0] ? d->cublas : "-");
  else
    fprintf(out, "CPU only: %s, %d cores. ", d->host_cpu, d->host_cores);
  fprintf(out, "libsqz %s, git %s%s, %s UTC, %.0f s.\n\n", sqz_version(), SQZ_BENCH_GIT_COMMIT,
          SQZ_BENCH_GIT_DIRTY ? " (dirty)" : "", r->created, r->wall_s);
}

static void write_results(FILE *out, const bench_report *r) {
  if (!bench_results_count(r->results, BENCH_MEASURED)) {
    fprintf(out, "No configuration was measured.\n\n");
    return;
  }
  fprintf(out,
          "### Results\n\n"
          "forward: time per forward pass from input to logits, both in device memory on "
          "GPU backends (GPU time from CUDA events; wall time on cpu); e2e: wall time from "
          "uint8 images in host memory (pinned on GPU backends) to the top-%d of each image on "
          "the host; "
          "layers: sum of the per-layer times; sweep: as forward. peak: the engine's "
          "weights + activations + workspace (cpu: it runs on the model's own "
          "weights).\n\n",
          r->opt->topk);
  fprintf(out,
          "| model | kind | backend | precision | batch | input | graphs | median ms | "
          "p90 ms | p99 ms | min ms | images/s | peak MiB |\n");
  fprintf(out, "|---|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|\n");
  for (int i = 0; i < r->results->count; i++) {
    const bench_result *x = &r->results->items[i];
    if (x->status != BENCH_MEASURED) continue;
    char a[32], b[32], c[32], d[32], e[32], f[32];
    fprintf(out, "| %s | %s | %s | %s | %d | %d | %s | %s | %s | %s | %s | %s | %s |\n",
            r->models[x->model].label, bench_kind_name(x->kind), sqz_backend_name(x->backend),
            sqz_precision_name(x->precision), x->batch, x->input, bench_onoff(x->graphs),
            fmt_ms(a, sizeof a, x->stats.median_ms), fmt_ms(b, sizeof b, x->stats.p90_ms),
            fmt_ms(c, sizeof c, x->stats.p99_ms), fmt_ms(d, sizeof d, x->stats.min_ms),
            fmt_rate(e, sizeof e, x->images_per_s), fmt_mib(f, sizeof f, (double)x->peak_bytes));
  }
  fputc('\n', out);
}

static int same_group(const bench_result *a, const bench_result *b) {
  return a->model == b->model && a->kind == b->kind && a->precision == b->precision &&
         a->batch == b->batch && a->input == b->input && a->graphs == b->graphs;
}

static void write_ratios(FILE *out, const bench_report *r) {
  if (r->num_ratios == 0) return;
  int present[NUM_COLUMNS] = {0};
  for (int i = 0; i < r->num_ratios; i++)
    for (int c = 0; c < NUM_COLUMNS; c++)
      present[c] |= r->results->items[r->ratios[i].other].backend == kColumnOrder[c];
  const char *base = sqz_backend_name(r->ratio_base);
  fprintf(out,
          "### Speed-up of %s\n\n"
          "Median time of the other backend / median time of %s, same model, kind, "
          "precision, batch, input and graphs setting, measured in this run (> 1: %s is "
          "faster).\n\n",
          base, base, base);
  fprintf(out, "| model | kind | precision | batch | input | graphs | %s ms |", base);
  for (int c = 0; c < NUM_COLUMNS; c++)
    if (present[c]) fprintf(out, " vs %s |", sqz_backend_name(kColumnOrder[c]));
  fprintf(out, "\n|---|---|---|---:|---:|---|---:|");
  for (int c = 0; c < NUM_COLUMNS; c++)
    if (present[c]) fprintf(out, "---:|");
  fputc('\n', out);
  for (int i = 0; i < r->results->count; i++) {
    const bench_result *b = &r->results->items[i];
    if (b->status != BENCH_MEASURED || b->backend != r->ratio_base) continue;
    double cells[NUM_COLUMNS];
    int any = 0;
    for (int c = 0; c < NUM_COLUMNS; c++) cells[c] = NAN;
    for (int k = 0; k < r->num_ratios; k++) {
      if (r->ratios[k].base != i) continue;
      const bench_result *o = &r->results->items[r->ratios[k].other];
      if (!same_group(b, o)) continue;
      for (int c = 0; c < NUM_COLUMNS; c++)
        if (o->backend == kColumnOrder[c]) cells[c] = r->ratios[k].speedup, any = 1;
    }
    if (!any) continue;
    char ms[32];
    fprintf(out, "| %s | %s | %s | %d | %d | %s | %s |", r->models[b->model].label,
            bench_kind_name(b->kind), sqz_precision_name(b->precision), b->batch, b->input,
            bench_onoff(b->graphs), fmt_ms(ms, sizeof ms, b->stats.median_ms));
    for (int c = 0; c < NUM_COLUMNS; c++) {
      if (!present[c]) continue;
      if (isfinite(cells[c]))
        fprintf(out, " %.2fx |", cells[c]);
      else
        fprintf(out, " - |");
    }
    fputc('\n', out);
  }
  fputc('\n', out);
}

/* One table per (model, precision, batch, input) with layers rows: a row per
 * layer, a column per backend. */
static void write_layers(FILE *out, const bench_report *r) {
  const bench_result_list *l = r->results;
  int header = 0;
  for (int i = 0; i < l->count; i++) {
    const bench_result *x = &l->items[i];
    if (x->status != BENCH_MEASURED || x->kind != BENCH_LAYERS) continue;
    int first = 1; /* is this the first row of its group? */
    for (int j = 0; j < i && first; j++) {
      const bench_result *y = &l->items[j];
      first = !(y->status == BENCH_MEASURED && y->kind == BENCH_LAYERS && same_group(x, y));
    }
    if (!first) continue;
    const bench_result *cols[NUM_COLUMNS] = {NULL};
    for (int j = i; j < l->count; j++) {
      const bench_result *y = &l->items[j];
      if (y->status != BENCH_MEASURED || y->kind != BENCH_LAYERS || !same_group(x, y)) continue;
      for (int c = 0; c < NUM_COLUMNS; c++)
        if (y->backend == kColumnOrder[c] && !cols[c]) cols[c] = y;
    }
    if (!header) {
      fprintf(out,
              "### Per layer\n\nMedian time of each layer from sqz_engine_profile "
              "(without CUDA graphs), ms; 0 where a backend folds the layer into "
              "another.\n\n");
      header = 1;
    }
    fprintf(out, "%s, %s, batch %d, input %d:\n\n| layer |", r->models[x->model].label,
            sqz_precision_name(x->precision), x->batch, x->input);
    for (int c = 0; c < NUM_COLUMNS; c++)
      if (cols[c]) fprintf(out, " %s |", sqz_backend_name(kColumnOrder[c]));
    fprintf(out, "\n|---|");
    for (int c = 0; c < NUM_COLUMNS; c++)
      if (cols[c]) fprintf(out, "---:|");
    fputc('\n', out);
    for (int k = 0; k < x->num_layers; k++) {
      fprintf(out, "| %s |", x->layers[k].name);
      for (int c = 0; c < NUM_COLUMNS; c++) {
        if (!cols[c]) continue;
        char ms[32];
        fprintf(
            out, " %s |",
            k < cols[c]->num_layers ? fmt_ms(ms, sizeof ms, cols[c]->layers[k].median_ms) : "-");
      }
      fputc('\n', out);
    }
    fprintf(out, "| **total (median of sums)** |");
    for (int c = 0; c < NUM_COLUMNS; c++) {
      char ms[32];
      if (cols[c]) fprintf(out, " %s |", fmt_ms(ms, sizeof ms, cols[c]->stats.median_ms));
    }
    fprintf(out, "\n\n");
  }
}

/* One table per precision and input: a row per sweep model, columns for the
 * latency at the smallest sweep batch and the throughput at the largest. */
static void write_sweep(FILE *out, const bench_report *r) {
  const bench_result_list *l = r->results;
  const bench_options *o = r->opt;
  if (r->sweep_start >= r->num_models) return;
  int bmin = o->sweep_batches[0], bmax = o->sweep_batches[0];
  for (int i = 1; i < o->num_sweep_batches; i++) {
    if (o->sweep_batches[i] < bmin) bmin = o->sweep_batches[i];
    if (o->sweep_batches[i] > bmax) bmax = o->sweep_batches[i];
  }
  fprintf(out,
          "### Design-space sweep\n\n"
          "SR: squeeze ratio; pct: share of 3x3 filters in the expand layers; base_e 128, "
          "incr_e 128, freq 2 (SqueezeNet v1.0's macro-architecture). Latency: median ms at "
          "batch %d; throughput: images/s at batch %d.\n\n",
          bmin, bmax);
  for (int p = 0; p < o->num_precisions; p++) {
    for (int in = 0; in < 64; in++) {
      /* the distinct inputs of the sweep rows, in order */
      int input = -1, count = 0;
      for (int i = 0; i < l->count && input < 0; i++) {
        const bench_result *x = &l->items[i];
        if (x->kind != BENCH_SWEEP) continue;
        int seen = 0;
        for (int j = 0; j < i; j++)
          seen |= l->items[j].kind == BENCH_SWEEP && l->items[j].input == x->input;
        if (!seen && count++ == in) input = x->input;
      }
      if (input < 0) break;
      const sqz_backend *bk = o->sweep_backends;
      fprintf(out, "%s, input %d:\n\n| grid | SR | pct | params | MB (fp32) | MMACs |",
              sqz_precision_name(o->precisions[p]), input);
      for (int b = 0; b < o->num_sweep_backends; b++)
        fprintf(out, " %s ms |", sqz_backend_name(bk[b]));
      for (int b = 0; b < o->num_sweep_backends; b++)
        fprintf(out, " %s img/s |", sqz_backend_name(bk[b]));
      fprintf(out, "\n|---|---:|---:|---:|---:|---:|");
      for (int b = 0; b < 2 * o->num_sweep_backends; b++) fprintf(out, "---:|");
      fputc('\n', out);
      for (int mi = r->sweep_start; mi < r->num_models; mi++) {
        const bench_model *m = &r->models[mi];
        const char *grid = m->grid == (BENCH_GRID_SR | BENCH_GRID_PCT) ? "both"
                           : m->grid == BENCH_GRID_SR                  ? "SR"
                                                                       : "pct";
        uint64_t params = 0, macs = 0;
        for (int i = 0; i < l->count; i++)
          if (l->items[i].model == mi && l->items[i].input == input)
            params = l->items[i].params, macs = l->items[i].macs;
        fprintf(out, "| %s | %g | %g | %llu | %.2f | %.0f |", grid, m->squeeze_ratio, m->pct_3x3,
                (unsigned long long)params, params * 4 / 1e6, macs / 1e6);
        for (int pass = 0; pass < 2; pass++)
          for (int b = 0; b < o->num_sweep_backends; b++) {
            const bench_result *hit = NULL;
            for (int i = 0; i < l->count && !hit; i++) {
              const bench_result *x = &l->items[i];
              if (x->model == mi && x->kind == BENCH_SWEEP && x->status == BENCH_MEASURED &&
                  x->input == input && x->backend == bk[b] && x->precision == o->precisions[p] &&
                  x->batch == (pass ? bmax : bmin))
                hit = x;
            }
            char buf[32];
            if (!hit)
              fprintf(out, " - |");
            else if (pass == 0)
              fprintf(out, " %s |", fmt_ms(buf, sizeof buf, hit->stats.median_ms));
            else
              fprintf(out, " %s |", fmt_rate(buf, sizeof buf, hit->images_per_s));
          }
        fputc('\n', out);
      }
      fputc('\n', out);
    }
  }
}

static void write_unmeasured(FILE *out, const bench_report *r) {
  for (int pass = 0; pass < 2; pass++) {
    bench_status status = pass ? BENCH_FAILED : BENCH_SKIPPED;
    int n = bench_results_count(r->results, status);
    if (!n) continue;
    fprintf(out, "%d configuration%s %s:\n\n", n, n == 1 ? "" : "s", pass ? "FAILED" : "skipped");
    /* each distinct reason once, with how many rows it covers */
    for (int i = 0; i < r->results->count; i++) {
      const bench_result *x = &r->results->items[i];
      if (x->status != status) continue;
      int first = 1, count = 0;
      for (int j = 0; j < r->results->count; j++) {
        const bench_result *y = &r->results->items[j];
        if (y->status != status || strcmp(y->message, x->message) != 0 ||
            y->backend != x->backend || y->precision != x->precision)
          continue;
        if (j < i) first = 0;
        count++;
      }
      if (!first) continue;
      if (pass)
        fprintf(out, "- %s %s %s batch %d: %s\n", r->models[x->model].label,
                sqz_backend_name(x->backend), sqz_precision_name(x->precision), x->batch,
                x->message);
      else
        fprintf(out, "- %d x %s %s: %s\n", count, sqz_backend_name(x->backend),
                sqz_precision_name(x->precision), x->message);
    }
    fputc('\n', out);
  }
}

void bench_write_markdown(FILE *out, void *report) {
  const bench_report *r = report;
  write_header(out, r);
  write_results(out, r);
  write_ratios(out, r);
  write_layers(out, r);
  write_sweep(out, r);
  write_unmeasured(out, r);
}
