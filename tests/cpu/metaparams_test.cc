// The paper's metaparameter generator.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sqz.h"

namespace {

struct Fire {
  int s, e1, e3;
  sqz_bypass bypass;
};

std::vector<Fire> Fires(const sqz_model *m) {
  std::vector<Fire> out;
  for (int i = 0; i < sqz_model_num_layers(m); i++) {
    sqz_layer_info l;
    sqz_model_layer(m, i, &l);
    if (l.kind == SQZ_LAYER_FIRE) out.push_back({l.squeeze, l.expand1x1, l.expand3x3, l.bypass});
  }
  return out;
}

TEST(Metaparams, DefaultsReproduceV10) {
  sqz_metaparams p = sqz_metaparams_default();
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_from_metaparams(&p, 0, &m), SQZ_OK);
  EXPECT_EQ(sqz_model_param_count(m), 1248424u);
  sqz_model *v10 = nullptr;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_0", 0, &v10), SQZ_OK);
  EXPECT_EQ(sqz_model_macs(m), sqz_model_macs(v10));
  sqz_model_free(v10);
  sqz_model_free(m);
}

TEST(Metaparams, FormulaPerModule) {
  sqz_metaparams p = sqz_metaparams_default();
  p.base_e = 64;
  p.incr_e = 32;
  p.freq = 3;
  p.pct_3x3 = 0.25;
  p.squeeze_ratio = 0.5;
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_from_metaparams(&p, 0, &m), SQZ_OK);
  auto fires = Fires(m);
  ASSERT_EQ(fires.size(), 8u);
  for (int i = 0; i < 8; i++) {
    int e = 64 + 32 * (i / 3);
    EXPECT_EQ(fires[i].e3, e / 4) << i;
    EXPECT_EQ(fires[i].e1, e - e / 4) << i;
    EXPECT_EQ(fires[i].s, e / 2) << i;
  }
  sqz_model_free(m);
}

TEST(Metaparams, ExtremeRatios) {
  sqz_metaparams p = sqz_metaparams_default();
  p.squeeze_ratio = 1.0;
  p.pct_3x3 = 0.01;
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_from_metaparams(&p, 0, &m), SQZ_OK);
  auto f = Fires(m);
  EXPECT_EQ(f[0].s, 128);
  EXPECT_EQ(f[0].e3, 1);  // round(1.28)
  EXPECT_EQ(f[0].e1, 127);
  EXPECT_EQ(f[7].s, 512);
  EXPECT_EQ(f[7].e3, 5);  // round(5.12)
  sqz_model_free(m);
  p.pct_3x3 = 0.99;
  ASSERT_EQ(sqz_model_from_metaparams(&p, 0, &m), SQZ_OK);
  f = Fires(m);
  EXPECT_EQ(f[0].e3, 127);  // round(126.72)
  EXPECT_EQ(f[0].e1, 1);
  sqz_model_free(m);
}

TEST(Metaparams, BypassPlacement) {
  sqz_metaparams p = sqz_metaparams_default();
  p.bypass = SQZ_BYPASS_COMPLEX;
  p.num_classes = 10;
  p.input_size = 227;
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_from_metaparams(&p, 0, &m), SQZ_OK);
  std::string kinds;
  for (const Fire &f : Fires(m)) kinds += std::to_string((int)f.bypass);
  EXPECT_EQ(kinds, "21212121");
  EXPECT_EQ(sqz_model_num_classes(m), 10);
  int c, h, w;
  sqz_model_input_shape(m, &c, &h, &w);
  EXPECT_EQ(h, 227);
  sqz_model_free(m);
  // With incr_e 0 every module but the first keeps its channels.
  p.incr_e = 0;
  p.bypass = SQZ_BYPASS_SIMPLE;
  ASSERT_EQ(sqz_model_from_metaparams(&p, 0, &m), SQZ_OK);
  kinds.clear();
  for (const Fire &f : Fires(m)) kinds += std::to_string((int)f.bypass);
  EXPECT_EQ(kinds, "01111111");
  sqz_model_free(m);
}

TEST(Metaparams, OutOfRangeIsRefusedWithTheReason) {
  struct Bad {
    void (*apply)(sqz_metaparams *);
    const char *word;
  } cases[] = {
      {[](sqz_metaparams *p) { p->pct_3x3 = 0.0; }, "pct_3x3"},
      {[](sqz_metaparams *p) { p->pct_3x3 = 1.0; }, "pct_3x3"},
      {[](sqz_metaparams *p) { p->squeeze_ratio = 1.5; }, "squeeze_ratio"},
      {[](sqz_metaparams *p) { p->squeeze_ratio = -0.1; }, "squeeze_ratio"},
      {[](sqz_metaparams *p) { p->freq = 0; }, "freq"},
      {[](sqz_metaparams *p) { p->base_e = 1; }, "base_e"},
      {[](sqz_metaparams *p) { p->num_classes = 0; }, "num_classes"},
      {[](sqz_metaparams *p) { p->input_size = 16; }, "too small"},
      {[](sqz_metaparams *p) { p->bypass = (sqz_bypass)7; }, "bypass"},
  };
  for (const Bad &b : cases) {
    sqz_metaparams p = sqz_metaparams_default();
    b.apply(&p);
    sqz_model *m = nullptr;
    EXPECT_EQ(sqz_model_from_metaparams(&p, 0, &m), SQZ_ERR_INVALID_ARGUMENT) << b.word;
    EXPECT_EQ(m, nullptr);
    EXPECT_NE(std::string(sqz_last_error()).find(b.word), std::string::npos) << sqz_last_error();
  }
}

}  // namespace
