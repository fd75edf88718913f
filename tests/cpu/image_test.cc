// Image decoding (PPM/PGM ours, JPEG/PNG through the system libraries),
// resizing and the model's crop.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#ifdef SQZ_HAVE_PNG
#include <png.h>
#endif

#include "common/test_util.h"
#include "sqz.h"

namespace {

using Bytes = std::vector<unsigned char>;

Bytes Pnm(const std::string &header, const Bytes &pixels) {
  Bytes b(header.begin(), header.end());
  b.insert(b.end(), pixels.begin(), pixels.end());
  return b;
}

struct ImagePtr {
  sqz_image *img = nullptr;
  ~ImagePtr() { sqz_image_free(img); }
};

TEST(Pnm, P6WithComments) {
  Bytes data = Pnm("P6\n# a comment\n2 1 # another\n255\n", {1, 2, 3, 250, 251, 252});
  ImagePtr i;
  ASSERT_EQ(sqz_image_decode(data.data(), data.size(), &i.img), SQZ_OK) << sqz_last_error();
  EXPECT_EQ(i.img->width, 2);
  EXPECT_EQ(i.img->height, 1);
  EXPECT_EQ(Bytes(i.img->pixels, i.img->pixels + 6), (Bytes{1, 2, 3, 250, 251, 252}));
}

TEST(Pnm, P5GrayBecomesRgb) {
  Bytes data = Pnm("P5 2 2 255\n", {0, 10, 20, 255});
  ImagePtr i;
  ASSERT_EQ(sqz_image_decode(data.data(), data.size(), &i.img), SQZ_OK);
  EXPECT_EQ(Bytes(i.img->pixels, i.img->pixels + 12),
            (Bytes{0, 0, 0, 10, 10, 10, 20, 20, 20, 255, 255, 255}));
}

TEST(Pnm, SixteenBitAndSmallMaxvalAreRescaled) {
  Bytes data = Pnm("P5 2 1 65535\n", {0xFF, 0xFF, 0x80, 0x00});
  ImagePtr i;
  ASSERT_EQ(sqz_image_decode(data.data(), data.size(), &i.img), SQZ_OK);
  EXPECT_EQ(i.img->pixels[0], 255);
  EXPECT_EQ(i.img->pixels[3], 128);
  Bytes small = Pnm("P5 1 1 15\n", {15});
  ImagePtr j;
  ASSERT_EQ(sqz_image_decode(small.data(), small.size(), &j.img), SQZ_OK);
  EXPECT_EQ(j.img->pixels[0], 255);
}

TEST(Pnm, MalformedInputsAreRefused) {
  const std::vector<std::pair<Bytes, const char *>> cases = {
      {Pnm("P6\n2 1\n255\n", {1, 2, 3}), "truncated"},
      {Pnm("P6\n2\n", {}), "header"},
      {Pnm("P6 0 5 255\n", {}), "image size"},
      {Pnm("P6 100000 100000 255\n", {}), "image size"},
      {Pnm("P6 1 1 0\n", {0, 0, 0}), "maximum value"},
      {Pnm("P6 1 1 70000\n", {0, 0, 0}), "maximum value"},
      {Pnm("P6 1 1 255", {}), "whitespace"},
      {Pnm("P3 1 1 255\n1 2 3\n", {}), "unknown image format"},
      {Bytes{'G', 'I', 'F', '8'}, "unknown image format"},
      {Bytes{}, "unknown image format"},
  };
  for (const auto &c : cases) {
    sqz_image *img = nullptr;
    EXPECT_EQ(sqz_image_decode(c.first.data(), c.first.size(), &img), SQZ_ERR_FORMAT) << c.second;
    EXPECT_EQ(img, nullptr);
    EXPECT_NE(std::string(sqz_last_error()).find(c.second), std::string::npos)
        << c.second << ": " << sqz_last_error();
  }
}

TEST(Pnm, EveryTruncationOfASmallFileIsRefused) {
  Bytes pixels(4 * 3 * 3);
  for (size_t i = 0; i < pixels.size(); i++) pixels[i] = (unsigned char)i;
  Bytes data = Pnm("P6\n4 3\n255\n", pixels);
  for (size_t n = 0; n < data.size(); n++) {
    sqz_image *img = nullptr;
    ASSERT_NE(sqz_image_decode(data.data(), n, &img), SQZ_OK) << n;
    ASSERT_EQ(img, nullptr);
  }
}

TEST(Resize, IdentityAndKnownValues) {
  Bytes data = Pnm("P6 2 2 255\n", {0, 0, 0, 100, 100, 100, 200, 200, 200, 250, 250, 250});
  ImagePtr i;
  ASSERT_EQ(sqz_image_decode(data.data(), data.size(), &i.img), SQZ_OK);
  Bytes same(12);
  ASSERT_EQ(sqz_image_resize(i.img, 2, 2, same.data()), SQZ_OK);
  EXPECT_EQ(same, Bytes(i.img->pixels, i.img->pixels + 12));
  // Down to 1x1: the centre is the mean of the four.
  Bytes one(3);
  ASSERT_EQ(sqz_image_resize(i.img, 1, 1, one.data()), SQZ_OK);
  EXPECT_EQ(one[0], 138);  // (0 + 100 + 200 + 250) / 4 = 137.5, rounded
  // Up to 4x1 along x on the first row (0 -> 100): centres at -0.25, 0.25,
  // 0.75, 1.25 clamp to 0, 25, 75, 100.
  Bytes row(4 * 2 * 3);
  ASSERT_EQ(sqz_image_resize(i.img, 4, 2, row.data()), SQZ_OK);
  EXPECT_EQ(row[0], 0);
  EXPECT_EQ(row[3], 25);
  EXPECT_EQ(row[6], 75);
  EXPECT_EQ(row[9], 100);
  EXPECT_EQ(sqz_image_resize(i.img, 0, 2, row.data()), SQZ_ERR_INVALID_ARGUMENT);
}

TEST(Prepare, ShorterSideResizeThenCentreCrop) {
  // A 448x224 image whose columns encode x: the builtin preprocessing
  // resizes the shorter side to 256 (-> 512x256) and crops 224 from the
  // centre: offsets (144, 16).
  const int w = 448, h = 224;
  Bytes pixels((size_t)w * h * 3);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++) pixels[((size_t)y * w + x) * 3 + c] = (unsigned char)(x / 2);
  Bytes data = Pnm("P6 448 224 255\n", pixels);
  ImagePtr i;
  ASSERT_EQ(sqz_image_decode(data.data(), data.size(), &i.img), SQZ_OK);
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 0, &m), SQZ_OK);
  Bytes out(224 * 224 * 3);
  ASSERT_EQ(sqz_image_prepare(m, i.img, out.data()), SQZ_OK);
  // Output column 0 is resized column 144, source x = 144.5 * 448/512 - 0.5
  // = 125.9, value about 62.9/... (x/2 with x ~ 125.9) -> 62 or 63.
  EXPECT_NEAR(out[0], 63, 1);
  EXPECT_NEAR(out[223 * 3], (367.5 * 448 / 512 - 0.5) / 2, 1);
  sqz_model_free(m);
}

TEST(Prepare, CropOf227From256IsAtOffset14) {
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_0", 0, &m), SQZ_OK);
  ASSERT_EQ(sqz_model_set_input_size(m, 227, 227), SQZ_OK);
  // Already 256x256: the crop is the identity window at (14, 14).
  const int n = 256;
  Bytes pixels((size_t)n * n * 3);
  for (int y = 0; y < n; y++)
    for (int x = 0; x < n; x++) {
      pixels[((size_t)y * n + x) * 3 + 0] = (unsigned char)x;
      pixels[((size_t)y * n + x) * 3 + 1] = (unsigned char)y;
      pixels[((size_t)y * n + x) * 3 + 2] = 7;
    }
  Bytes data = Pnm("P6 256 256 255\n", pixels);
  ImagePtr i;
  ASSERT_EQ(sqz_image_decode(data.data(), data.size(), &i.img), SQZ_OK);
  Bytes out(227 * 227 * 3);
  ASSERT_EQ(sqz_image_prepare(m, i.img, out.data()), SQZ_OK);
  // The resize (shorter side to 256) is the identity here: the output is
  // the source window starting at (14, 14).
  EXPECT_EQ(out[0], 14);
  EXPECT_EQ(out[1], 14);
  EXPECT_EQ(out[2], 7);
  EXPECT_EQ(out[(226 * 227 + 226) * 3 + 0], 240);
  EXPECT_EQ(out[(226 * 227 + 226) * 3 + 1], 240);
  sqz_model_free(m);
}

#ifdef SQZ_HAVE_PNG
TEST(Png, DecodesRgbGrayAndAlpha) {
  // Encode through libpng's simplified API: 2x1 RGBA, one transparent pixel.
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = 2;
  img.height = 1;
  img.format = PNG_FORMAT_RGBA;
  const unsigned char rgba[8] = {10, 20, 30, 255, 200, 200, 200, 0};
  png_alloc_size_t size = 0;
  ASSERT_TRUE(png_image_write_to_memory(&img, nullptr, &size, 0, rgba, 0, nullptr));
  Bytes png(size);
  ASSERT_TRUE(png_image_write_to_memory(&img, png.data(), &size, 0, rgba, 0, nullptr));
  png.resize(size);
  ImagePtr i;
  ASSERT_EQ(sqz_image_decode(png.data(), png.size(), &i.img), SQZ_OK) << sqz_last_error();
  EXPECT_EQ(Bytes(i.img->pixels, i.img->pixels + 6), (Bytes{10, 20, 30, 0, 0, 0}));
  // Truncated: refused.
  Bytes cut(png.begin(), png.begin() + png.size() / 2);
  sqz_image *bad = nullptr;
  EXPECT_EQ(sqz_image_decode(cut.data(), cut.size(), &bad), SQZ_ERR_FORMAT);
  EXPECT_EQ(bad, nullptr);
}
#endif

TEST(Jpeg, DecodesTheSamplePhotographs) {
  if (!sqz_image_format_is_built("jpeg")) GTEST_SKIP() << "built without libjpeg";
  SQZ_REQUIRE_DATA(data);
  std::string path = data + "/imagenet_samples/jpeg/0000_n01440764.jpg";
  ImagePtr i;
  ASSERT_EQ(sqz_image_load(path.c_str(), &i.img), SQZ_OK) << sqz_last_error();
  EXPECT_GT(i.img->width, 100);
  EXPECT_GT(i.img->height, 100);
  // Garbage after the JPEG signature is an error, never a crash.
  Bytes file = sqz_test::ReadFile(path);
  for (size_t n : {3, 10, 100, 600}) {
    Bytes cut(file.begin(), file.begin() + n);
    sqz_image *img = nullptr;
    EXPECT_EQ(sqz_image_decode(cut.data(), cut.size(), &img), SQZ_ERR_FORMAT) << n;
    EXPECT_EQ(img, nullptr);
  }
  for (size_t pos = 2; pos < file.size(); pos += file.size() / 50) {
    Bytes bad = file;
    bad[pos] ^= 0xFF;
    sqz_image *img = nullptr;
    sqz_status st = sqz_image_decode(bad.data(), bad.size(), &img);
    EXPECT_TRUE(st == SQZ_OK || st == SQZ_ERR_FORMAT || st == SQZ_ERR_UNSUPPORTED);
    sqz_image_free(img);
  }
}

TEST(ImageFormats, PpmAlwaysBuilt) {
  EXPECT_EQ(sqz_image_format_is_built("ppm"), 1);
  EXPECT_EQ(sqz_image_format_is_built("pgm"), 1);
  EXPECT_EQ(sqz_image_format_is_built("gif"), 0);
  EXPECT_EQ(sqz_image_format_is_built(nullptr), 0);
}

}  // namespace
