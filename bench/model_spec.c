/* sqz-bench: from model specs to models. The spec syntax is documented in
 * --help and docs/benchmarks.md. */
#define _POSIX_C_SOURCE 200809L /* strtok_r */
#include "model_spec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const struct {
  const char *alias, *name;
} kAliases[] = {{"v1.0", "squeezenet1_0"},
                {"v1.1", "squeezenet1_1"},
                {"v1.0-simple", "squeezenet1_0_simple_bypass"},
                {"v1.0-complex", "squeezenet1_0_complex_bypass"}};

static const double kSweepSr[] = {0.125, 0.25, 0.5, 0.75, 1.0};
static const double kSweepPct[] = {0.01, 0.25, 0.5, 0.75, 0.99};

static int runtime_error(const char *what, const char *spec, sqz_status st) {
  fprintf(stderr, "sqz-bench: %s '%s': %s: %s\n", what, spec, sqz_status_string(st),
          sqz_last_error());
  return BENCH_RUNTIME_ERROR;
}

static int is_builtin(const char *name) {
  for (const char *const *n = sqz_model_builtin_names(); *n; n++)
    if (strcmp(*n, name) == 0) return 1;
  return 0;
}

static int parse_number(const char *text, double *out) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno || end == text || *end) return -1;
  *out = v;
  return 0;
}

static int parse_int_in(const char *text, int lo, int hi, int *out) {
  double v;
  if (parse_number(text, &v) || !(v >= lo && v <= hi) || v != (double)(int)v) return -1;
  *out = (int)v;
  return 0;
}

int bench_meta_parse(const char *keys, sqz_metaparams *p, char *why, size_t why_size) {
  char buf[512];
  *p = sqz_metaparams_default();
  if (strlen(keys) >= sizeof buf) {
    snprintf(why, why_size, "too long");
    return -1;
  }
  strcpy(buf, keys);
  char *save = NULL;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(t, '=');
    if (!eq) {
      snprintf(why, why_size, "'%s' is not KEY=VALUE", t);
      return -1;
    }
    *eq = '\0';
    const char *k = t, *v = eq + 1;
    int bad = 0;
    if (!strcmp(k, "SR") || !strcmp(k, "sr") || !strcmp(k, "squeeze_ratio")) {
      bad = parse_number(v, &p->squeeze_ratio) || !(p->squeeze_ratio > 0 && p->squeeze_ratio <= 1);
    } else if (!strcmp(k, "pct") || !strcmp(k, "pct_3x3")) {
      bad = parse_number(v, &p->pct_3x3) || !(p->pct_3x3 > 0 && p->pct_3x3 < 1);
    } else if (!strcmp(k, "base") || !strcmp(k, "base_e")) {
      bad = parse_int_in(v, 1, 16384, &p->base_e);
    } else if (!strcmp(k, "incr") || !strcmp(k, "incr_e")) {
      bad = parse_int_in(v, 0, 16384, &p->incr_e);
    } else if (!strcmp(k, "freq")) {
      bad = parse_int_in(v, 1, 8, &p->freq);
    } else if (!strcmp(k, "classes") || !strcmp(k, "num_classes")) {
      bad = parse_int_in(v, 1, 16384, &p->num_classes);
    } else if (!strcmp(k, "bypass")) {
      if (!strcmp(v, "none"))
        p->bypass = SQZ_BYPASS_NONE;
      else if (!strcmp(v, "simple"))
        p->bypass = SQZ_BYPASS_SIMPLE;
      else if (!strcmp(v, "complex"))
        p->bypass = SQZ_BYPASS_COMPLEX;
      else
        bad = 1;
    } else {
      snprintf(why, why_size,
               "unknown key '%s' (expected SR, pct, base, incr, freq, bypass, classes)", k);
      return -1;
    }
    if (bad) {
      snprintf(why, why_size, "bad value '%s' for %s", v, k);
      return -1;
    }
  }
  return 0;
}

static void fill_native(bench_model *m) {
  int c;
  sqz_model_input_shape(m->model, &c, &m->native_h, &m->native_w);
}

int bench_model_load(const char *spec, uint64_t seed, bench_model *out) {
  memset(out, 0, sizeof *out);
  snprintf(out->spec, sizeof out->spec, "%s", spec);
  const char *name = spec;
  if (strncmp(name, "builtin:", 8) == 0) name += 8;
  for (size_t i = 0; i < sizeof kAliases / sizeof *kAliases; i++)
    if (strcmp(name, kAliases[i].alias) == 0) name = kAliases[i].name;
  sqz_status st;
  if (strncmp(spec, "meta:", 5) == 0) {
    sqz_metaparams p;
    char why[256];
    if (bench_meta_parse(spec + 5, &p, why, sizeof why)) {
      fprintf(stderr, "sqz-bench: model '%s': %s\nTry 'sqz-bench --help'.\n", spec, why);
      return BENCH_USAGE_ERROR;
    }
    st = sqz_model_from_metaparams(&p, seed, &out->model);
    if (st != SQZ_OK) return runtime_error("making model", spec, st);
    snprintf(out->label, sizeof out->label, "%s", spec);
  } else if (is_builtin(name)) {
    st = sqz_model_builtin(name, seed, &out->model);
    if (st != SQZ_OK) return runtime_error("making model", spec, st);
    snprintf(out->label, sizeof out->label, "%s", name);
  } else if (strncmp(spec, "builtin:", 8) == 0) {
    fprintf(stderr, "sqz-bench: unknown built-in model '%s' (built-ins:", name);
    for (const char *const *n = sqz_model_builtin_names(); *n; n++) fprintf(stderr, " %s", *n);
    fprintf(stderr, ")\n");
    return BENCH_USAGE_ERROR;
  } else {
    st = sqz_model_load(spec, &out->model);
    if (st != SQZ_OK) return runtime_error("loading model", spec, st);
    /* The file's name: a model name may be a built-in's (the Deep Compression
     * file is "squeezenet1_0"), and labels must tell the models apart. */
    const char *base = strrchr(spec, '/');
    snprintf(out->label, sizeof out->label, "%s", base && base[1] ? base + 1 : spec);
  }
  fill_native(out);
  return BENCH_OK;
}

int bench_sweep_models(uint64_t seed, bench_model *out, int max) {
  int n = 0;
  for (int grid = 0; grid < 2; grid++) {
    for (int i = 0; i < 5; i++) {
      double sr = grid == 0 ? kSweepSr[i] : 0.5;
      double pct = grid == 0 ? 0.5 : kSweepPct[i];
      int found = -1;
      for (int j = 0; j < n; j++)
        if (out[j].squeeze_ratio == sr && out[j].pct_3x3 == pct) found = j;
      if (found >= 0) {
        out[found].grid |= grid == 0 ? BENCH_GRID_SR : BENCH_GRID_PCT;
        continue;
      }
      if (n >= max) return n;
      char spec[96];
      snprintf(spec, sizeof spec, "meta:SR=%g,pct=%g", sr, pct);
      int rc = bench_model_load(spec, seed, &out[n]);
      if (rc != BENCH_OK) {
        for (int j = 0; j < n; j++) bench_model_free(&out[j]);
        return -1;
      }
      out[n].grid = grid == 0 ? BENCH_GRID_SR : BENCH_GRID_PCT;
      out[n].squeeze_ratio = sr;
      out[n].pct_3x3 = pct;
      n++;
    }
  }
  return n;
}

int bench_model_save(bench_model *m, const char *dir) {
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "sqz-bench: cannot create directory '%s': %s\n", dir, strerror(errno));
    return BENCH_RUNTIME_ERROR;
  }
  char safe[128];
  size_t i = 0;
  for (const char *p = m->label; *p && i + 1 < sizeof safe; p++) {
    char ch = *p;
    int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '.' || ch == '_' || ch == '-';
    safe[i++] = ok ? ch : (ch == '=' ? '-' : '_');
  }
  safe[i] = '\0';
  snprintf(m->file, sizeof m->file, "%s/%s.sqzw", dir, safe);
  sqz_status st = sqz_model_save(m->model, m->file);
  if (st != SQZ_OK) {
    m->file[0] = '\0';
    return runtime_error("saving model", m->label, st);
  }
  return BENCH_OK;
}

void bench_model_free(bench_model *m) {
  sqz_model_free(m->model);
  m->model = NULL;
}
