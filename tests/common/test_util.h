// Helpers shared by the GoogleTest suites.
#ifndef SQZ_TESTS_TEST_UTIL_H
#define SQZ_TESTS_TEST_UTIL_H

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/model.h"
#include "sqz.h"

namespace sqz_test {

// The shared data folder: $SQZ_DATA_DIR, else ../shared/data beside the
// checkout. Empty when it does not exist.
std::string DataDir();

// Skips the current test with the reason when the data folder is missing.
#define SQZ_REQUIRE_DATA(dir)                                                \
  std::string dir = sqz_test::DataDir();                                     \
  if (dir.empty())                                                           \
  GTEST_SKIP() << "shared data folder not found: set SQZ_DATA_DIR (default " \
                  "../shared/data beside the checkout)"

// SQZ_TEST_QUICK is set (and not "0"): the emulated device's CI runs,
// where a test checks fewer batches, photographs or requests.
bool QuickRun();

// A fresh empty folder under the system temporary folder, removed with its
// contents when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string &path() const { return path_; }
  std::string File(const std::string &name) const { return path_ + "/" + name; }
  std::vector<std::string> List() const;

 private:
  std::string path_;
};

std::vector<unsigned char> ReadFile(const std::string &path);
void WriteFile(const std::string &path, const std::vector<unsigned char> &data);

// Deterministic uniform floats in [lo, hi).
std::vector<float> RandomVector(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f);

// A small model built through the internal builder: conv, pool, fires with
// the given bypass, conv, global average pool; random weights.
sqz_model *TinyModel(int input_size, sqz_bypass bypass, uint32_t seed);

// An independent forward pass in plain C++ loops (direct convolution, no
// GEMM), NCHW, one image: the check on the reference engine itself.
std::vector<float> NaiveForward(const sqz_model *m, const float *input);

// The names of the files in dir ending with ext, sorted.
std::vector<std::string> SortedFiles(const std::string &dir, const std::string &ext);

// max |a - b|
float MaxAbsDiff(const float *a, const float *b, size_t n);

// Runs a command through the shell, capturing stdout (and stderr when
// merge_stderr); returns the exit status.
int RunCommand(const std::string &cmd, std::string *output, bool merge_stderr = false);

}  // namespace sqz_test

#endif
