// Every host allocation failing in turn: each call reports out of memory (or
// succeeds), never crashes, and leaks nothing (checked by the sanitizer run
// in scripts/test.sh).
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "runtime/alloc.h"
#include "sqz.h"

namespace {

// Runs `attempt` with the n-th allocation failing, for n = 1, 2, ... until it
// succeeds; returns how many failures were seen.
int FailEachAllocation(const std::function<sqz_status()> &attempt) {
  for (long n = 1; n < 10000; n++) {
    sqz_debug_fail_alloc_after(n);
    sqz_status st = attempt();
    sqz_debug_fail_alloc_after(0);
    if (st == SQZ_OK) return (int)n - 1;
    EXPECT_EQ(st, SQZ_ERR_OUT_OF_MEMORY) << "allocation " << n << ": " << sqz_last_error();
    if (st != SQZ_ERR_OUT_OF_MEMORY) return -1;
    EXPECT_NE(std::string(sqz_last_error()).find("memory"), std::string::npos);
  }
  return -1;
}

TEST(AllocFailure, ModelsEnginesFilesAndImages) {
  sqz_test::TempDir dir;
  sqz_model *base = nullptr;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_0_complex_bypass", 0, &base), SQZ_OK);
  ASSERT_EQ(sqz_model_set_input_size(base, 48, 48), SQZ_OK);
  std::string path = dir.File("m.sqzw");
  ASSERT_EQ(sqz_model_save(base, path.c_str()), SQZ_OK);
  std::string labels;
  for (int i = 0; i < 1000; i++) labels += "n" + std::to_string(10000000 + i) + " x\n";
  sqz_test::WriteFile(dir.File("labels.txt"), {labels.begin(), labels.end()});
  std::vector<unsigned char> ppm = {'P', '6', ' ', '2', ' ', '2', ' ', '2', '5', '5', '\n'};
  ppm.resize(ppm.size() + 12, 9);
  sqz_test::WriteFile(dir.File("i.ppm"), ppm);

  EXPECT_GT(FailEachAllocation([] {
              sqz_model *m = nullptr;
              sqz_status st = sqz_model_builtin("squeezenet1_1", 0, &m);
              sqz_model_free(m);
              return st;
            }),
            0);
  EXPECT_GT(FailEachAllocation([] {
              sqz_metaparams p = sqz_metaparams_default();
              sqz_model *m = nullptr;
              sqz_status st = sqz_model_from_metaparams(&p, 0, &m);
              sqz_model_free(m);
              return st;
            }),
            0);
  EXPECT_GT(FailEachAllocation([&] {
              sqz_model *m = nullptr;
              sqz_status st = sqz_model_load(path.c_str(), &m);
              sqz_model_free(m);
              return st;
            }),
            0);
  EXPECT_GT(FailEachAllocation(
                [&] { return sqz_model_load_labels(base, dir.File("labels.txt").c_str()); }),
            0);
  EXPECT_GT(FailEachAllocation([&] {
              sqz_engine_options o = sqz_engine_options_default();
              o.backend = SQZ_BACKEND_CPU;
              sqz_engine *e = nullptr;
              sqz_status st = sqz_engine_create(base, &o, &e);
              sqz_engine_free(e);
              return st;
            }),
            0);
  EXPECT_GT(FailEachAllocation([&] {
              sqz_image *img = nullptr;
              sqz_status st = sqz_image_load(dir.File("i.ppm").c_str(), &img);
              sqz_image_free(img);
              return st;
            }),
            0);
  std::string dc;
  std::string data = sqz_test::DataDir();
  if (!data.empty()) {
    dc = data + "/squeezenet_v1.0_deep_compression.net";
    EXPECT_GT(FailEachAllocation([&] {
                sqz_model *m = nullptr;
                sqz_status st = sqz_model_load(dc.c_str(), &m);
                sqz_model_free(m);
                return st;
              }),
              0);
  }
  sqz_model_free(base);
  // The library works normally afterwards.
  sqz_model *m = nullptr;
  EXPECT_EQ(sqz_model_load(path.c_str(), &m), SQZ_OK);
  sqz_model_free(m);
}

}  // namespace
