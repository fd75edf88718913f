// The Deep Compression importer on the real release file.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "models/deep_compression.h"
#include "runtime/model.h"

namespace {

const unsigned kListedCounts[SQZ_DC_LAYERS] = {
    13902, 1528, 1020,  3073, 2038, 1023,  3081,  4085, 4071,  12288, 8160,  4067,  12343,
    12161, 4602, 27558, 9205, 9132, 27564, 24388, 8190, 44919, 16371, 16303, 45038, 105973};

TEST(DeepCompression, ReproducesTheListedCountsAndArchitecture) {
  SQZ_REQUIRE_DATA(data);
  auto file = sqz_test::ReadFile(data + "/squeezenet_v1.0_deep_compression.net");
  ASSERT_EQ(file.size(), 675763u);
  sqz_model *m = nullptr;
  unsigned counts[SQZ_DC_LAYERS];
  ASSERT_EQ(sqz_deep_compression_parse("dc", file.data(), file.size(), &m, counts), SQZ_OK)
      << sqz_last_error();
  for (int i = 0; i < SQZ_DC_LAYERS; i++) EXPECT_EQ(counts[i], kListedCounts[i]) << i;
  // An independent decoding, straight from the format description, gives
  // the same weights and biases.
  std::vector<const sqz_conv *> convs;
  for (int i = 0; i < m->num_layers; i++) {
    const sqz_layer &l = m->layers[i];
    if (l.kind == SQZ_LAYER_CONV) convs.push_back(&l.conv);
    if (l.kind == SQZ_LAYER_FIRE) {
      convs.push_back(&l.fire.squeeze);
      convs.push_back(&l.fire.expand1x1);
      convs.push_back(&l.fire.expand3x3);
    }
  }
  ASSERT_EQ(convs.size(), (size_t)SQZ_DC_LAYERS);
  size_t at = 4 * SQZ_DC_LAYERS;
  for (int i = 0; i < SQZ_DC_LAYERS; i++) {
    const sqz_conv &c = *convs[i];
    std::vector<float> codebook(256), bias(c.out_channels);
    std::memcpy(codebook.data(), &file[at], 1024);
    std::memcpy(bias.data(), &file[at + 1024], 4 * bias.size());
    at += 1024 + 4 * bias.size();
    const unsigned char *codes = &file[at], *gaps = &file[at + kListedCounts[i]];
    at += kListedCounts[i] + (kListedCounts[i] + 1) / 2;
    std::vector<float> w((size_t)c.out_channels * c.in_channels * c.kernel * c.kernel, 0.0f);
    long pos = -1;
    for (unsigned k = 0; k < kListedCounts[i]; k++) {
      int gap = k % 2 ? gaps[k / 2] >> 4 : gaps[k / 2] & 15;
      pos += gap + 1;
      ASSERT_LT(pos, (long)w.size());
      w[pos] = codebook[codes[k]];
    }
    EXPECT_EQ(std::memcmp(w.data(), m->weights + c.weight, 4 * w.size()), 0) << "layer " << i;
    EXPECT_EQ(std::memcmp(bias.data(), m->weights + c.bias, 4 * bias.size()), 0) << "layer " << i;
  }
  EXPECT_EQ(at, file.size());
  EXPECT_EQ(sqz_model_param_count(m), 1248424u);
  sqz_layer_info conv10;
  ASSERT_EQ(sqz_model_layer(m, sqz_model_num_layers(m) - 2, &conv10), SQZ_OK);
  EXPECT_STREQ(conv10.name, "conv10");
  EXPECT_EQ(conv10.pad, 1);
  EXPECT_EQ(conv10.out_height, 15);
  int c, h, w;
  sqz_model_input_shape(m, &c, &h, &w);
  EXPECT_EQ(h, 227);
  sqz_preprocess p;
  sqz_model_preprocess(m, &p);
  EXPECT_EQ(p.channel_order, SQZ_ORDER_BGR);
  EXPECT_EQ(p.resize_mode, SQZ_RESIZE_STRETCH);
  EXPECT_EQ(p.resize_size, 256);
  EXPECT_FLOAT_EQ(p.mean[0], 104.0f);
  EXPECT_FLOAT_EQ(p.mean[1], 117.0f);
  EXPECT_FLOAT_EQ(p.mean[2], 123.0f);
  EXPECT_FLOAT_EQ(p.scale[0], 1.0f);
  sqz_model_free(m);
}

TEST(DeepCompression, EveryTruncationAndExtensionIsRefused) {
  SQZ_REQUIRE_DATA(data);
  auto file = sqz_test::ReadFile(data + "/squeezenet_v1.0_deep_compression.net");
  for (size_t n = 0; n < file.size(); n++) {
    sqz_model *m = nullptr;
    ASSERT_EQ(sqz_deep_compression_parse("dc", file.data(), n, &m, nullptr), SQZ_ERR_FORMAT) << n;
    ASSERT_EQ(m, nullptr);
  }
  file.push_back(0);
  sqz_model *m = nullptr;
  EXPECT_EQ(sqz_deep_compression_parse("dc", file.data(), file.size(), &m, nullptr),
            SQZ_ERR_FORMAT);
  EXPECT_NE(std::string(sqz_last_error()).find("675764 bytes"), std::string::npos);
}

TEST(DeepCompression, FlippedBytesNeverCrash) {
  SQZ_REQUIRE_DATA(data);
  const auto file = sqz_test::ReadFile(data + "/squeezenet_v1.0_deep_compression.net");
  int refused = 0, accepted = 0;
  // Every header byte, then samples through the body (codebooks, biases,
  // codes and gaps).
  std::vector<size_t> positions;
  for (size_t p = 0; p < 104; p++) positions.push_back(p);
  for (size_t p = 104; p < file.size(); p += 997) positions.push_back(p);
  for (size_t pos : positions) {
    auto bad = file;
    bad[pos] ^= 0xFF;
    sqz_model *m = nullptr;
    sqz_status st = sqz_deep_compression_parse("dc", bad.data(), bad.size(), &m, nullptr);
    ASSERT_TRUE(st == SQZ_OK || st == SQZ_ERR_FORMAT) << pos;
    (st == SQZ_OK ? accepted : refused)++;
    sqz_model_free(m);
  }
  EXPECT_GE(refused, 104);  // every count change alters the expected size
  EXPECT_GT(accepted, 0);   // a changed code is still a valid file
  // A gap that runs past the layer: all gaps of conv10 set to 15.
  auto bad = file;
  for (size_t i = file.size() - (105973 + 1) / 2; i < file.size(); i++) bad[i] = 0xFF;
  sqz_model *m = nullptr;
  EXPECT_EQ(sqz_deep_compression_parse("dc", bad.data(), bad.size(), &m, nullptr), SQZ_ERR_FORMAT);
  EXPECT_NE(std::string(sqz_last_error()).find("past the"), std::string::npos) << sqz_last_error();
}

TEST(DeepCompression, LoadRecognisesItByContentAndConvertsToSqzw) {
  SQZ_REQUIRE_DATA(data);
  sqz_test::TempDir dir;
  // A name that says nothing: recognised by content.
  auto file = sqz_test::ReadFile(data + "/squeezenet_v1.0_deep_compression.net");
  sqz_test::WriteFile(dir.File("weights.bin"), file);
  sqz_model *m = nullptr, *back = nullptr;
  ASSERT_EQ(sqz_model_load(dir.File("weights.bin").c_str(), &m), SQZ_OK) << sqz_last_error();
  ASSERT_EQ(sqz_model_load_labels(m, (data + "/synset_words.txt").c_str()), SQZ_OK);
  EXPECT_STREQ(sqz_model_label(m, 0), "tench");
  ASSERT_EQ(sqz_model_save(m, dir.File("v10.sqzw").c_str()), SQZ_OK);
  ASSERT_EQ(sqz_model_load(dir.File("v10.sqzw").c_str(), &back), SQZ_OK);
  EXPECT_EQ(std::memcmp(m->weights, back->weights, m->num_weights * 4), 0);
  EXPECT_STREQ(sqz_model_label_id(back, 999), "n15075141");
  sqz_model_free(back);
  sqz_model_free(m);
}

}  // namespace
