// Helpers of the GPU test suites.
#ifndef SQZ_TESTS_GPU_UTIL_H
#define SQZ_TESTS_GPU_UTIL_H

#include <string>

#include "sqz.h"

namespace sqz_test {

// Whether `backend` can make an engine here; if not, *why says why (not
// built, or no usable GPU with the library's message).
inline bool BackendUsable(sqz_backend backend, std::string *why) {
  if (!sqz_backend_is_built(backend)) {
    *why = std::string("backend ") + sqz_backend_name(backend) + " is not built into this library";
    return false;
  }
  sqz_model *m = nullptr;
  sqz_model_builtin("squeezenet1_1", 0, &m);
  sqz_engine_options o = sqz_engine_options_default();
  o.backend = backend;
  sqz_engine *e = nullptr;
  sqz_status st = sqz_engine_create(m, &o, &e);
  if (st != SQZ_OK) *why = std::string("no usable GPU: ") + sqz_last_error();
  sqz_engine_free(e);
  sqz_model_free(m);
  return st == SQZ_OK;
}

}  // namespace sqz_test

// Skips the current test with the reason unless `backend` works here.
#define SQZ_REQUIRE_BACKEND(backend)                                            \
  do {                                                                          \
    std::string sqz_why_;                                                       \
    if (!sqz_test::BackendUsable(backend, &sqz_why_)) GTEST_SKIP() << sqz_why_; \
  } while (0)

#endif
