// Building a model from a layer list and editing its tensors, labels and
// preprocessing through the public API.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "sqz.h"

namespace {

TEST(ModelCreate, FromTheLayersOfABuiltinGivesTheSameModel) {
  sqz_model *v11 = nullptr, *copy = nullptr;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 5, &v11), SQZ_OK);
  std::vector<sqz_layer_info> layers(sqz_model_num_layers(v11));
  for (size_t i = 0; i < layers.size(); i++)
    ASSERT_EQ(sqz_model_layer(v11, (int)i, &layers[i]), SQZ_OK);
  ASSERT_EQ(sqz_model_create("mine", 224, 224, layers.data(), (int)layers.size(), &copy), SQZ_OK)
      << sqz_last_error();
  EXPECT_STREQ(sqz_model_name(copy), "mine");
  EXPECT_EQ(sqz_model_param_count(copy), 1235496u);
  ASSERT_EQ(sqz_model_num_tensors(copy), sqz_model_num_tensors(v11));
  // Weights start at zero; copy them over by name.
  for (int t = 0; t < sqz_model_num_tensors(v11); t++) {
    sqz_tensor_info a, b;
    const float *src = nullptr, *dst = nullptr;
    ASSERT_EQ(sqz_model_tensor(v11, t, &a, &src), SQZ_OK);
    ASSERT_EQ(sqz_model_tensor(copy, t, &b, &dst), SQZ_OK);
    EXPECT_STREQ(a.name, b.name);
    EXPECT_EQ(a.count, b.count);
    EXPECT_EQ(dst[0], 0.0f);
    ASSERT_EQ(sqz_model_set_tensor(copy, a.name, src, a.count), SQZ_OK);
    EXPECT_EQ(dst[a.count - 1], src[a.count - 1]);
  }
  sqz_tensor_info info;
  ASSERT_EQ(sqz_model_tensor(copy, 0, &info, nullptr), SQZ_OK);
  EXPECT_STREQ(info.name, "conv1.weight");
  EXPECT_EQ(info.ndim, 4);
  EXPECT_EQ(info.dims[0], 64);
  EXPECT_EQ(info.dims[3], 3);
  EXPECT_EQ(sqz_model_tensor(copy, 1000, &info, nullptr), SQZ_ERR_INVALID_ARGUMENT);
  sqz_model_free(copy);
  sqz_model_free(v11);
}

TEST(ModelCreate, BadLayerListsAreRefused) {
  sqz_layer_info l[3] = {};
  l[0].name = "conv1";
  l[0].kind = SQZ_LAYER_CONV;
  l[0].out_channels = 4;
  l[0].kernel = 3;
  l[0].stride = 1;
  l[1].name = "gap";
  l[1].kind = SQZ_LAYER_GLOBAL_AVGPOOL;
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_create("ok", 8, 8, l, 2, &m), SQZ_OK);
  EXPECT_EQ(sqz_model_num_classes(m), 4);
  sqz_model_free(m);
  m = nullptr;
  l[2] = l[0];  // a conv after the global pool
  l[2].name = "late";
  EXPECT_EQ(sqz_model_create("bad", 8, 8, l, 3, &m), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sqz_last_error()).find("last layer"), std::string::npos);
  l[2].name = "conv1";
  EXPECT_EQ(sqz_model_create("bad", 8, 8, l, 3, &m), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sqz_last_error()).find("two layers are named"), std::string::npos);
  l[0].kernel = 0;
  EXPECT_EQ(sqz_model_create("bad", 8, 8, l, 2, &m), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sqz_last_error()).find("kernel"), std::string::npos);
  EXPECT_EQ(sqz_model_create("bad", 8, 8, l, 1, &m), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(m, nullptr);
}

TEST(ModelEdit, SetTensorChecksNameSizeAndValues) {
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 0, &m), SQZ_OK);
  std::vector<float> bias(64, 0.5f);
  EXPECT_EQ(sqz_model_set_tensor(m, "conv1.bias", bias.data(), 64), SQZ_OK);
  EXPECT_EQ(sqz_model_set_tensor(m, "conv1.bias", bias.data(), 63), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sqz_last_error()).find("has 64 values"), std::string::npos);
  EXPECT_EQ(sqz_model_set_tensor(m, "conv9.bias", bias.data(), 64), SQZ_ERR_INVALID_ARGUMENT);
  bias[7] = NAN;
  EXPECT_EQ(sqz_model_set_tensor(m, "conv1.bias", bias.data(), 64), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sqz_last_error()).find("value 7"), std::string::npos);
  sqz_model_free(m);
}

TEST(ModelEdit, LabelsAndPreprocess) {
  sqz_metaparams p = sqz_metaparams_default();
  p.num_classes = 2;
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_from_metaparams(&p, 0, &m), SQZ_OK);
  const char *names[] = {"cat", "dog"};
  const char *ids[] = {"n1", "n2"};
  ASSERT_EQ(sqz_model_set_labels(m, nullptr, names), SQZ_OK);
  EXPECT_STREQ(sqz_model_label(m, 1), "dog");
  EXPECT_STREQ(sqz_model_label_id(m, 1), "");
  ASSERT_EQ(sqz_model_set_labels(m, ids, names), SQZ_OK);
  EXPECT_EQ(sqz_model_find_label_id(m, "n2"), 1);
  const char *bad[] = {"cat", nullptr};
  EXPECT_EQ(sqz_model_set_labels(m, nullptr, bad), SQZ_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(sqz_model_label(m, 0), "cat");  // unchanged
  sqz_preprocess pre;
  sqz_model_preprocess(m, &pre);
  pre.channel_order = SQZ_ORDER_BGR;
  ASSERT_EQ(sqz_model_set_preprocess(m, &pre), SQZ_OK);
  sqz_preprocess back;
  sqz_model_preprocess(m, &back);
  EXPECT_EQ(back.channel_order, SQZ_ORDER_BGR);
  pre.scale[1] = 0;
  EXPECT_EQ(sqz_model_set_preprocess(m, &pre), SQZ_ERR_INVALID_ARGUMENT);
  sqz_model_free(m);
}

}  // namespace
