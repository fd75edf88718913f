// Helpers of the GPU test suites.
#ifndef SQZ_TESTS_GPU_UTIL_H
#define SQZ_TESTS_GPU_UTIL_H

#include <string>

#include "sqz.h"

namespace sqz_test {

// Whether `backend` can make an engine here. If it cannot because it is
// not built or there is no device, *skip says why; any other failure is a
// failure of the backend, in *failure.
inline bool BackendUsable(sqz_backend backend, std::string *skip, std::string *failure) {
  if (!sqz_backend_is_built(backend)) {
    *skip = std::string("backend ") + sqz_backend_name(backend) + " is not built into this library";
#ifdef SQZ_EMULATED_DEVICE
    if (backend == SQZ_BACKEND_CUDNN) *skip += " (the emulated device does not emulate cuDNN)";
#endif
    return false;
  }
  sqz_model *m = nullptr;
  sqz_model_builtin("squeezenet1_1", 0, &m);
  sqz_engine_options o = sqz_engine_options_default();
  o.backend = backend;
  sqz_engine *e = nullptr;
  sqz_status st = sqz_engine_create(m, &o, &e);
  if (st == SQZ_ERR_NO_DEVICE)
    *skip = std::string("no usable GPU: ") + sqz_last_error();
  else if (st != SQZ_OK)
    *failure = std::string("backend ") + sqz_backend_name(backend) +
               " cannot make an engine: " + sqz_status_string(st) + ": " + sqz_last_error();
  sqz_engine_free(e);
  sqz_model_free(m);
  return st == SQZ_OK;
}

}  // namespace sqz_test

// Skips the current test with the reason when `backend` is not built or
// there is no device; fails it when the backend cannot make an engine.
#define SQZ_REQUIRE_BACKEND(backend)                                    \
  do {                                                                  \
    std::string sqz_skip_, sqz_failure_;                                \
    if (!sqz_test::BackendUsable(backend, &sqz_skip_, &sqz_failure_)) { \
      if (!sqz_failure_.empty()) FAIL() << sqz_failure_;                \
      GTEST_SKIP() << sqz_skip_;                                        \
    }                                                                   \
  } while (0)

#endif
