// End to end on the real weights: the 100 sample crops through the cpu
// engine against logits computed by an independent framework.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "sqz.h"

namespace {

using sqz_test::SortedFiles;

class RealWeights : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = sqz_test::DataDir();
    if (data_.empty()) GTEST_SKIP() << "shared data folder not found: set SQZ_DATA_DIR";
    ASSERT_EQ(sqz_model_load((data_ + "/squeezenet_v1.0_deep_compression.net").c_str(), &model_),
              SQZ_OK)
        << sqz_last_error();
    sqz_engine_options o = sqz_engine_options_default();
    o.backend = SQZ_BACKEND_CPU;
    o.max_batch = kBatch;
    ASSERT_EQ(sqz_engine_create(model_, &o, &engine_), SQZ_OK) << sqz_last_error();
  }
  void TearDown() override {
    sqz_engine_free(engine_);
    sqz_model_free(model_);
  }
  // Logits of each file (decoded, prepared by the model's preprocessing).
  std::vector<float> Logits(const std::string &dir, const std::vector<std::string> &files) {
    const size_t image = 227 * 227 * 3;
    std::vector<uint8_t> pixels(kBatch * image);
    std::vector<float> logits(files.size() * 1000);
    for (size_t start = 0; start < files.size(); start += kBatch) {
      int n = (int)std::min<size_t>(kBatch, files.size() - start);
      for (int i = 0; i < n; i++) {
        sqz_image *img = nullptr;
        std::string path = dir + "/" + files[start + i];
        EXPECT_EQ(sqz_image_load(path.c_str(), &img), SQZ_OK) << sqz_last_error();
        if (!img) return {};
        EXPECT_EQ(sqz_image_prepare(model_, img, pixels.data() + i * image), SQZ_OK);
        sqz_image_free(img);
      }
      EXPECT_EQ(sqz_engine_run_images(engine_, pixels.data(), n, SQZ_OUTPUT_LOGITS,
                                      logits.data() + start * 1000),
                SQZ_OK);
    }
    return logits;
  }
  static int Top1(const float *row) { return (int)(std::max_element(row, row + 1000) - row); }
  static int TrueClass(const std::string &file) { return std::atoi(file.substr(0, 4).c_str()); }

  static constexpr int kBatch = 10;
  std::string data_;
  sqz_model *model_ = nullptr;
  sqz_engine *engine_ = nullptr;
};

TEST_F(RealWeights, CropsMatchTheReferenceLogits) {
  std::string dir = data_ + "/imagenet_samples/ppm";
  auto files = SortedFiles(dir, ".ppm");
  ASSERT_EQ(files.size(), 100u);
  auto ref_bytes = sqz_test::ReadFile(data_ + "/imagenet_samples/reference_logits_fp32.bin");
  ASSERT_EQ(ref_bytes.size(), 100u * 1000 * 4);
  std::vector<float> ref(100 * 1000);
  std::memcpy(ref.data(), ref_bytes.data(), ref_bytes.size());
  auto logits = Logits(dir, files);
  ASSERT_EQ(logits.size(), ref.size());
  float worst = sqz_test::MaxAbsDiff(logits.data(), ref.data(), ref.size());
  EXPECT_LE(worst, 1e-3f);
  int same_top1 = 0, correct = 0;
  for (int i = 0; i < 100; i++) {
    same_top1 += Top1(&logits[i * 1000]) == Top1(&ref[i * 1000]);
    correct += Top1(&logits[i * 1000]) == TrueClass(files[i]);
  }
  EXPECT_EQ(same_top1, 100);
  EXPECT_EQ(correct, 62);  // the reference's own top-1 on these crops
  RecordProperty("max_abs_error", std::to_string(worst));
  std::printf("max |logit - reference| = %.3g over 100 crops; top-1 %d/100\n", worst, correct);
}

TEST_F(RealWeights, JpegOriginalsThroughResizeAndCrop) {
  std::string ppm_dir = data_ + "/imagenet_samples/ppm", jpg_dir = data_ + "/imagenet_samples/jpeg";
  if (!sqz_image_format_is_built("jpeg")) GTEST_SKIP() << "built without libjpeg";
  auto crops = SortedFiles(ppm_dir, ".ppm");
  auto photos = SortedFiles(jpg_dir, ".jpg");
  ASSERT_EQ(photos.size(), 100u);
  auto crop_logits = Logits(ppm_dir, crops);
  auto photo_logits = Logits(jpg_dir, photos);
  ASSERT_EQ(photo_logits.size(), 100u * 1000);
  int crop_correct = 0, photo_correct = 0, agree = 0;
  for (int i = 0; i < 100; i++) {
    crop_correct += Top1(&crop_logits[i * 1000]) == TrueClass(crops[i]);
    photo_correct += Top1(&photo_logits[i * 1000]) == TrueClass(photos[i]);
    agree += Top1(&crop_logits[i * 1000]) == Top1(&photo_logits[i * 1000]);
  }
  std::printf("top-1: crops %d/100, JPEG originals %d/100, same prediction on %d\n", crop_correct,
              photo_correct, agree);
  EXPECT_LE(std::abs(photo_correct - crop_correct), 3);
}

}  // namespace
