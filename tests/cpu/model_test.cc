// Built-in architectures: shapes, parameter and MAC counts, synthetic weights.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "runtime/model.h"
#include "sqz.h"

namespace {

struct ModelPtr {
  sqz_model *m = nullptr;
  ~ModelPtr() { sqz_model_free(m); }
};

TEST(Builtin, ParameterAndMacCountsOfThePaper) {
  ModelPtr v10, v11;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_0", 0, &v10.m), SQZ_OK);
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 0, &v11.m), SQZ_OK);
  EXPECT_EQ(sqz_model_param_count(v10.m), 1248424u);
  EXPECT_EQ(sqz_model_param_count(v11.m), 1235496u);
  // About 819 M and 349 M multiply-accumulates at 224x224.
  EXPECT_NEAR(sqz_model_macs(v10.m) / 1e6, 819.0, 1.0);
  EXPECT_NEAR(sqz_model_macs(v11.m) / 1e6, 349.0, 1.0);
  EXPECT_EQ(sqz_model_num_classes(v10.m), 1000);
  int c, h, w;
  sqz_model_input_shape(v11.m, &c, &h, &w);
  EXPECT_EQ(c, 3);
  EXPECT_EQ(h, 224);
  EXPECT_EQ(w, 224);
}

std::string ShapeString(const sqz_model *m) {
  std::string s;
  for (int i = 0; i < sqz_model_num_layers(m); i++) {
    sqz_layer_info l;
    EXPECT_EQ(sqz_model_layer(m, i, &l), SQZ_OK);
    s += std::string(l.name) + ":" + std::to_string(l.out_channels) + "x" +
         std::to_string(l.out_height) + " ";
  }
  return s;
}

TEST(Builtin, LayerShapesV10At224) {
  ModelPtr m;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_0", 0, &m.m), SQZ_OK);
  EXPECT_EQ(ShapeString(m.m),
            "conv1:96x109 pool1:96x54 fire2:128x54 fire3:128x54 fire4:256x54 pool4:256x27 "
            "fire5:256x27 fire6:384x27 fire7:384x27 fire8:512x27 pool8:512x13 fire9:512x13 "
            "conv10:1000x13 avgpool:1000x1 ");
}

TEST(Builtin, LayerShapesV11At224And227) {
  ModelPtr m;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 0, &m.m), SQZ_OK);
  EXPECT_EQ(ShapeString(m.m),
            "conv1:64x111 pool1:64x55 fire2:128x55 fire3:128x55 pool3:128x27 fire4:256x27 "
            "fire5:256x27 pool5:256x13 fire6:384x13 fire7:384x13 fire8:512x13 fire9:512x13 "
            "conv10:1000x13 avgpool:1000x1 ");
  // At 227, ceil mode changes the sizes: 113 -> 56 -> 28 -> 14.
  ASSERT_EQ(sqz_model_set_input_size(m.m, 227, 227), SQZ_OK);
  EXPECT_EQ(ShapeString(m.m),
            "conv1:64x113 pool1:64x56 fire2:128x56 fire3:128x56 pool3:128x28 fire4:256x28 "
            "fire5:256x28 pool5:256x14 fire6:384x14 fire7:384x14 fire8:512x14 fire9:512x14 "
            "conv10:1000x14 avgpool:1000x1 ");
  // Parameters do not depend on the input size; MACs do.
  EXPECT_EQ(sqz_model_param_count(m.m), 1235496u);
  EXPECT_GT(sqz_model_macs(m.m), 349000000u);
}

TEST(Builtin, LayerInfoFields) {
  ModelPtr m;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_0", 0, &m.m), SQZ_OK);
  sqz_layer_info l;
  ASSERT_EQ(sqz_model_layer(m.m, 0, &l), SQZ_OK);
  EXPECT_STREQ(l.name, "conv1");
  EXPECT_EQ(l.kind, SQZ_LAYER_CONV);
  EXPECT_EQ(l.kernel, 7);
  EXPECT_EQ(l.stride, 2);
  EXPECT_EQ(l.params, 96u * 3 * 49 + 96);
  EXPECT_EQ(l.macs, 96ull * 3 * 49 * 109 * 109);
  ASSERT_EQ(sqz_model_layer(m.m, 2, &l), SQZ_OK);
  EXPECT_STREQ(l.name, "fire2");
  EXPECT_EQ(l.kind, SQZ_LAYER_FIRE);
  EXPECT_EQ(l.squeeze, 16);
  EXPECT_EQ(l.expand1x1, 64);
  EXPECT_EQ(l.expand3x3, 64);
  EXPECT_EQ(l.in_channels, 96);
  EXPECT_EQ(l.params, (96u * 16 + 16) + (16u * 64 + 64) + (16u * 9 * 64 + 64));
  EXPECT_EQ(sqz_model_layer(m.m, 99, &l), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(sqz_model_layer(m.m, -1, &l), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sqz_last_error()).find("out of range"), std::string::npos);
}

TEST(Builtin, BypassVariants) {
  ModelPtr simple, complex_;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_0_simple_bypass", 0, &simple.m), SQZ_OK);
  ASSERT_EQ(sqz_model_builtin("squeezenet1_0_complex_bypass", 0, &complex_.m), SQZ_OK);
  // Simple bypass adds no parameters.
  EXPECT_EQ(sqz_model_param_count(simple.m), 1248424u);
  // Complex: 1x1 convs with bias around fire2 (96->128), fire4 (128->256),
  // fire6 (256->384), fire8 (384->512).
  uint64_t extra = (96 * 128 + 128) + (128 * 256 + 256) + (256 * 384 + 384) + (384 * 512 + 512);
  EXPECT_EQ(sqz_model_param_count(complex_.m), 1248424u + extra);
  std::string simple_kinds, complex_kinds;
  for (int i = 0; i < sqz_model_num_layers(simple.m); i++) {
    sqz_layer_info a, b;
    sqz_model_layer(simple.m, i, &a);
    sqz_model_layer(complex_.m, i, &b);
    if (a.kind != SQZ_LAYER_FIRE) continue;
    simple_kinds += std::to_string((int)a.bypass);
    complex_kinds += std::to_string((int)b.bypass);
  }
  EXPECT_EQ(simple_kinds, "01010101");   // fire3, 5, 7, 9
  EXPECT_EQ(complex_kinds, "21212121");  // conv on 2, 4, 6, 8
}

TEST(Builtin, UnknownNameAndNullArguments) {
  sqz_model *m = nullptr;
  EXPECT_EQ(sqz_model_builtin("squeezenet2", 0, &m), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sqz_last_error()).find("squeezenet2"), std::string::npos);
  EXPECT_EQ(m, nullptr);
  EXPECT_EQ(sqz_model_builtin(nullptr, 0, &m), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(sqz_model_builtin("squeezenet1_0", 0, nullptr), SQZ_ERR_INVALID_ARGUMENT);
  const char *const *names = sqz_model_builtin_names();
  int n = 0;
  while (names[n]) n++;
  EXPECT_EQ(n, 4);
  sqz_model_free(nullptr);  // accepted
}

TEST(Builtin, SyntheticWeightsAreDeterministicPerSeed) {
  ModelPtr a, b, c;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 7, &a.m), SQZ_OK);
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 7, &b.m), SQZ_OK);
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 8, &c.m), SQZ_OK);
  ASSERT_EQ(a.m->num_weights, b.m->num_weights);
  EXPECT_EQ(std::memcmp(a.m->weights, b.m->weights, a.m->num_weights * sizeof(float)), 0);
  EXPECT_NE(std::memcmp(a.m->weights, c.m->weights, a.m->num_weights * sizeof(float)), 0);
  // He-uniform: conv1's weights stay within sqrt(6 / 27).
  const sqz_tensor *t = sqz_model_find_tensor(a.m, "conv1.weight");
  ASSERT_NE(t, nullptr);
  float bound = std::sqrt(6.0f / 27.0f), seen = 0;
  for (size_t i = 0; i < t->count; i++)
    seen = std::max(seen, std::fabs(a.m->weights[t->offset + i]));
  EXPECT_LE(seen, bound);
  EXPECT_GT(seen, 0.9f * bound);
}

TEST(Builtin, InputSizeTooSmallIsRefusedAndKeepsTheOldSize) {
  ModelPtr m;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_0", 0, &m.m), SQZ_OK);
  EXPECT_EQ(sqz_model_set_input_size(m.m, 20, 20), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sqz_last_error()).find("too small"), std::string::npos);
  int c, h, w;
  sqz_model_input_shape(m.m, &c, &h, &w);
  EXPECT_EQ(h, 224);
  sqz_layer_info l;
  sqz_model_layer(m.m, 0, &l);
  EXPECT_EQ(l.out_height, 109);  // shapes restored too
  EXPECT_EQ(sqz_model_set_input_size(m.m, 0, 224), SQZ_ERR_INVALID_ARGUMENT);
  // Non-square works.
  ASSERT_EQ(sqz_model_set_input_size(m.m, 224, 300), SQZ_OK);
  sqz_model_layer(m.m, 0, &l);
  EXPECT_EQ(l.out_width, 147);
}

TEST(Builtin, TensorNamesFollowTheLayers) {
  ModelPtr m;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_0_complex_bypass", 0, &m.m), SQZ_OK);
  EXPECT_NE(sqz_model_find_tensor(m.m, "fire2.squeeze.weight"), nullptr);
  EXPECT_NE(sqz_model_find_tensor(m.m, "fire2.expand3x3.bias"), nullptr);
  EXPECT_NE(sqz_model_find_tensor(m.m, "fire2.shortcut.weight"), nullptr);
  EXPECT_EQ(sqz_model_find_tensor(m.m, "fire3.shortcut.weight"), nullptr);
  const sqz_tensor *t = sqz_model_find_tensor(m.m, "conv10.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dims[0], 1000);
  EXPECT_EQ(t->dims[1], 512);
  size_t total = 0;
  for (int i = 0; i < m.m->num_tensors; i++) total += m.m->tensors[i].count;
  EXPECT_EQ(total, m.m->num_weights);
  EXPECT_EQ(total, sqz_model_param_count(m.m));
}

}  // namespace
