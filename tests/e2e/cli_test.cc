// The sqz command-line tool: exit codes, help, output formats, conversion.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "common/test_util.h"

namespace {

const std::string kSqz = SQZ_CLI_PATH;

int Sqz(const std::string &args, std::string *out, bool merge = false) {
  return sqz_test::RunCommand(kSqz + " " + args, out, merge);
}

bool Contains(const std::string &s, const std::string &part) {
  return s.find(part) != std::string::npos;
}

TEST(Cli, HelpAndUsageErrors) {
  std::string out;
  EXPECT_EQ(Sqz("--help", &out), 0);
  EXPECT_TRUE(Contains(out, "classify")) << out;
  for (const char *cmd : {"classify", "eval", "convert", "info", "loadtest", "serve"}) {
    EXPECT_EQ(Sqz(std::string(cmd) + " --help", &out), 0) << cmd;
    EXPECT_TRUE(Contains(out, std::string("Usage: sqz ") + cmd)) << out;
  }
  EXPECT_EQ(Sqz("", &out, true), 2);
  EXPECT_EQ(Sqz("frobnicate", &out, true), 2);
  EXPECT_TRUE(Contains(out, "unknown command 'frobnicate'")) << out;
  EXPECT_EQ(Sqz("classify --no-such-option x.ppm", &out, true), 2);
  EXPECT_EQ(Sqz("classify", &out, true), 2);
  EXPECT_TRUE(Contains(out, "no images")) << out;
  EXPECT_EQ(Sqz("classify --backend tpu x.ppm", &out, true), 2);
  EXPECT_TRUE(Contains(out, "unknown backend 'tpu'")) << out;
  EXPECT_EQ(Sqz("eval --batch 0 -m builtin:squeezenet1_1 .", &out, true), 2);
  EXPECT_EQ(Sqz("convert onlyone", &out, true), 2);
  EXPECT_EQ(Sqz("--version", &out), 0);
  EXPECT_TRUE(Contains(out, "sqz 0.")) << out;
}

TEST(Cli, LoadtestDrivesTheBatcher) {
  std::string out;
  ASSERT_EQ(Sqz("loadtest -b cpu --input-size 64 --clients 3 --requests 7 --max-batch 4 "
                "--instances 2 --input encoded --json",
                &out),
            0)
      << out;
  EXPECT_TRUE(Contains(out, "\"requests\": 21, \"succeeded\": 21, \"failed\": 0")) << out;
  EXPECT_TRUE(Contains(out, "\"requests_per_second\": ")) << out;
  EXPECT_TRUE(Contains(out, "\"batch_sizes\": {\"")) << out;
  ASSERT_EQ(Sqz("loadtest -b cpu --input-size 64 --clients 2 --requests 3 --input f32", &out), 0)
      << out;
  EXPECT_TRUE(Contains(out, "6 succeeded, 0 failed")) << out;
  EXPECT_TRUE(Contains(out, "requests/s")) << out;
  EXPECT_EQ(Sqz("loadtest --clients 0", &out, true), 2);
  EXPECT_EQ(Sqz("loadtest --input png", &out, true), 2);
  EXPECT_TRUE(Contains(out, "--input must be u8, f32 or encoded")) << out;
  EXPECT_EQ(Sqz("loadtest --max-batch 4 --preferred 2,8", &out, true), 2);
  EXPECT_EQ(Sqz("loadtest --preferred 2,x", &out, true), 2);
  EXPECT_EQ(Sqz("serve", &out, true), 2);
}

TEST(Cli, InfoOfBuiltins) {
  std::string out;
  ASSERT_EQ(Sqz("info builtin:squeezenet1_1", &out), 0);
  EXPECT_TRUE(Contains(out, "1235496 parameters")) << out;
  EXPECT_TRUE(Contains(out, "349.2 M MACs")) << out;
  EXPECT_TRUE(Contains(out, "fire9")) << out;
  ASSERT_EQ(Sqz("info --input-size 227 builtin:squeezenet1_1", &out), 0);
  EXPECT_TRUE(Contains(out, "64x113x113")) << out;
  EXPECT_EQ(Sqz("info builtin:nope", &out, true), 1);
  EXPECT_TRUE(Contains(out, "unknown built-in model 'nope'")) << out;
  EXPECT_EQ(Sqz("info /no/such/file.sqzw", &out, true), 1);
  EXPECT_TRUE(Contains(out, "/no/such/file.sqzw")) << out;
}

TEST(Cli, ClassifyJsonAndBadImages) {
  sqz_test::TempDir dir;
  std::vector<unsigned char> ppm = {'P', '6', '\n', '8', ' ', '8', '\n', '2', '5', '5', '\n'};
  for (int i = 0; i < 8 * 8 * 3; i++) ppm.push_back((unsigned char)(i * 7));
  sqz_test::WriteFile(dir.File("a.ppm"), ppm);
  sqz_test::WriteFile(dir.File("bad.ppm"), {'P', '6', ' ', '9'});
  std::string out;
  ASSERT_EQ(Sqz("classify --json -m builtin:squeezenet1_1 " + dir.File("a.ppm"), &out), 0);
  EXPECT_EQ(out.rfind("{\"file\":\"" + dir.File("a.ppm") + "\",\"top5\":[{\"index\":", 0), 0u)
      << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1);
  EXPECT_EQ(std::count(out.begin(), out.end(), '{'), 6);  // the object and five entries
  EXPECT_TRUE(Contains(out, "\"label\":null")) << out;
  // A bad image among good ones: reported, the others still classified,
  // exit status 1.
  EXPECT_EQ(Sqz("classify -m builtin:squeezenet1_1 " + dir.File("a.ppm") + " " +
                    dir.File("bad.ppm") + " " + dir.File("a.ppm"),
                &out, true),
            1);
  EXPECT_TRUE(Contains(out, "bad.ppm")) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '%'), 10) << out;
}

TEST(Cli, ConvertInfoClassifyAndEvalOnTheRealWeights) {
  SQZ_REQUIRE_DATA(data);
  sqz_test::TempDir dir;
  std::string out, model = dir.File("v10.sqzw");
  ASSERT_EQ(Sqz("convert " + data + "/squeezenet_v1.0_deep_compression.net " + model +
                    " --labels " + data + "/synset_words.txt",
                &out),
            0);
  EXPECT_TRUE(Contains(out, "labels embedded")) << out;
  ASSERT_EQ(Sqz("info " + model, &out), 0);
  EXPECT_TRUE(Contains(out, "BGR")) << out;
  EXPECT_TRUE(Contains(out, "1000x15x15")) << out;
  ASSERT_EQ(
      Sqz("classify -m " + model + " " + data + "/imagenet_samples/ppm/0000_n01440764.ppm", &out),
      0);
  EXPECT_TRUE(Contains(out, "tench")) << out;
  ASSERT_EQ(Sqz("eval --json -m " + model + " " + data + "/imagenet_samples/ppm", &out), 0);
  EXPECT_EQ(out.rfind("{\"n\":100,\"top1\":0.62,\"top5\":", 0), 0u) << out;
  // Without labels, eval says what it needs.
  EXPECT_EQ(Sqz("eval -m " + data + "/squeezenet_v1.0_deep_compression.net " + data +
                    "/imagenet_samples/ppm",
                &out, true),
            2);
  EXPECT_TRUE(Contains(out, "--labels")) << out;
}

}  // namespace
