/* The built-in architectures and the paper's metaparameter generator. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../runtime/error.h"
#include "../runtime/model.h"

typedef struct fire_spec {
  int squeeze, expand;
} fire_spec;

/* fire2..fire9 of both versions (squeeze, each expand). */
static const fire_spec kFires[8] = {{16, 64},  {16, 64},  {32, 128}, {32, 128},
                                    {48, 192}, {48, 192}, {64, 256}, {64, 256}};

/* In which fire modules a bypass goes, per sqz_bypass's definition: identity
 * where input and output channels are equal, a 1x1 conv elsewhere when the
 * kind is complex. */
static sqz_bypass fire_bypass(sqz_bypass kind, int in_channels, int out_channels) {
  if (kind == SQZ_BYPASS_NONE) return SQZ_BYPASS_NONE;
  if (in_channels == out_channels) return SQZ_BYPASS_SIMPLE;
  return kind == SQZ_BYPASS_COMPLEX ? SQZ_BYPASS_COMPLEX : SQZ_BYPASS_NONE;
}

/* v1.0's layout with the given fire modules: pools after conv1, fire4 and
 * fire8. */
static sqz_status build_v10_layout(sqz_model *m, const int squeeze[8], const int e1[8],
                                   const int e3[8], sqz_bypass bypass, int classes) {
  SQZ_TRY(sqz_model_add_conv(m, "conv1", 96, 7, 2, 0, 1));
  SQZ_TRY(sqz_model_add_maxpool(m, "pool1", 3, 2, 0));
  int channels = 96;
  for (int i = 0; i < 8; i++) {
    char name[16];
    snprintf(name, sizeof name, "fire%d", i + 2);
    int out = e1[i] + e3[i];
    SQZ_TRY(
        sqz_model_add_fire(m, name, squeeze[i], e1[i], e3[i], fire_bypass(bypass, channels, out)));
    channels = out;
    if (i == 2) SQZ_TRY(sqz_model_add_maxpool(m, "pool4", 3, 2, 0));
    if (i == 6) SQZ_TRY(sqz_model_add_maxpool(m, "pool8", 3, 2, 0));
  }
  SQZ_TRY(sqz_model_add_conv(m, "conv10", classes, 1, 1, 0, 1));
  return sqz_model_add_global_avgpool(m, "avgpool");
}

static sqz_status build_v10(sqz_model *m, sqz_bypass bypass) {
  int s[8], e1[8], e3[8];
  for (int i = 0; i < 8; i++) {
    s[i] = kFires[i].squeeze;
    e1[i] = e3[i] = kFires[i].expand;
  }
  return build_v10_layout(m, s, e1, e3, bypass, 1000);
}

/* v1.1: conv1 64 3x3/2, pools after conv1, fire3 and fire5. */
static sqz_status build_v11(sqz_model *m) {
  SQZ_TRY(sqz_model_add_conv(m, "conv1", 64, 3, 2, 0, 1));
  SQZ_TRY(sqz_model_add_maxpool(m, "pool1", 3, 2, 0));
  for (int i = 0; i < 8; i++) {
    char name[16];
    snprintf(name, sizeof name, "fire%d", i + 2);
    SQZ_TRY(sqz_model_add_fire(m, name, kFires[i].squeeze, kFires[i].expand, kFires[i].expand,
                               SQZ_BYPASS_NONE));
    if (i == 1) SQZ_TRY(sqz_model_add_maxpool(m, "pool3", 3, 2, 0));
    if (i == 3) SQZ_TRY(sqz_model_add_maxpool(m, "pool5", 3, 2, 0));
  }
  SQZ_TRY(sqz_model_add_conv(m, "conv10", 1000, 1, 1, 0, 1));
  return sqz_model_add_global_avgpool(m, "avgpool");
}

static const char *const kBuiltinNames[] = {"squeezenet1_0", "squeezenet1_1",
                                            "squeezenet1_0_simple_bypass",
                                            "squeezenet1_0_complex_bypass", NULL};

const char *const *sqz_model_builtin_names(void) { return kBuiltinNames; }

static sqz_status finish_synthetic(sqz_model *m, uint64_t seed, sqz_model **out) {
  sqz_status st = sqz_model_finish(m);
  if (st != SQZ_OK) {
    sqz_model_free(m);
    return st;
  }
  sqz_model_init_synthetic(m, seed);
  *out = m;
  return SQZ_OK;
}

sqz_status sqz_model_builtin(const char *name, uint64_t seed, sqz_model **out) {
  if (!name || !out) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "name and out must not be NULL");
  int which = -1;
  for (int i = 0; kBuiltinNames[i]; i++)
    if (strcmp(name, kBuiltinNames[i]) == 0) which = i;
  if (which < 0)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT,
                    "unknown built-in model '%s' (known: squeezenet1_0, "
                    "squeezenet1_1, squeezenet1_0_simple_bypass, "
                    "squeezenet1_0_complex_bypass)",
                    name);
  sqz_model *m;
  SQZ_TRY(sqz_model_begin(name, 3, 224, 224, &m));
  sqz_status st;
  switch (which) {
    case 0: st = build_v10(m, SQZ_BYPASS_NONE); break;
    case 1: st = build_v11(m); break;
    case 2: st = build_v10(m, SQZ_BYPASS_SIMPLE); break;
    default: st = build_v10(m, SQZ_BYPASS_COMPLEX); break;
  }
  if (st != SQZ_OK) {
    sqz_model_free(m);
    return st;
  }
  return finish_synthetic(m, seed, out);
}

sqz_metaparams sqz_metaparams_default(void) {
  sqz_metaparams p;
  p.base_e = 128;
  p.incr_e = 128;
  p.freq = 2;
  p.pct_3x3 = 0.5;
  p.squeeze_ratio = 0.125;
  p.bypass = SQZ_BYPASS_NONE;
  p.num_classes = 1000;
  p.input_size = 224;
  return p;
}

static int round_half_up(double x) { return (int)floor(x + 0.5); }

sqz_status sqz_model_from_metaparams(const sqz_metaparams *p, uint64_t seed, sqz_model **out) {
  if (!p || !out) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "params and out must not be NULL");
  if (p->base_e < 2 || p->base_e > 4096 || p->incr_e < 0 || p->incr_e > 4096 || p->freq < 1 ||
      p->freq > 8)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT,
                    "metaparameters out of range: base_e %d (2..4096), incr_e %d "
                    "(0..4096), freq %d (1..8)",
                    p->base_e, p->incr_e, p->freq);
  if (!(p->pct_3x3 > 0.0 && p->pct_3x3 < 1.0))
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "pct_3x3 must be in (0, 1), got %g", p->pct_3x3);
  if (!(p->squeeze_ratio > 0.0 && p->squeeze_ratio <= 1.0))
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "squeeze_ratio must be in (0, 1], got %g",
                    p->squeeze_ratio);
  if (p->num_classes < 1 || p->num_classes > SQZ_MAX_CHANNELS)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "num_classes must be 1..%d, got %d", SQZ_MAX_CHANNELS,
                    p->num_classes);
  if (p->bypass < SQZ_BYPASS_NONE || p->bypass > SQZ_BYPASS_COMPLEX)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "unknown bypass kind %d", (int)p->bypass);
  int s[8], e1[8], e3[8];
  for (int i = 0; i < 8; i++) {
    int e = p->base_e + p->incr_e * (i / p->freq);
    int e3i = round_half_up(e * p->pct_3x3);
    if (e3i < 1) e3i = 1;
    if (e3i > e - 1) e3i = e - 1;
    int si = round_half_up(e * p->squeeze_ratio);
    s[i] = si < 1 ? 1 : si;
    e3[i] = e3i;
    e1[i] = e - e3i;
  }
  char name[96];
  snprintf(name, sizeof name, "meta_b%d_i%d_f%d_p%g_sr%g%s", p->base_e, p->incr_e, p->freq,
           p->pct_3x3, p->squeeze_ratio,
           p->bypass == SQZ_BYPASS_SIMPLE    ? "_simple"
           : p->bypass == SQZ_BYPASS_COMPLEX ? "_complex"
                                             : "");
  sqz_model *m;
  SQZ_TRY(sqz_model_begin(name, 3, p->input_size, p->input_size, &m));
  sqz_status st = build_v10_layout(m, s, e1, e3, p->bypass, p->num_classes);
  if (st != SQZ_OK) {
    sqz_model_free(m);
    return st;
  }
  return finish_synthetic(m, seed, out);
}
