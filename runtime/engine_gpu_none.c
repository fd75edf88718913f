/* Built when the library has no GPU backends: nothing to create. The engine
 * reports "not built" before getting here; this keeps the link complete. */
#include "engine.h"
#include "error.h"

sqz_status sqz_gpu_engine_create(sqz_engine *e) {
  (void)e;
  return sqz_fail(SQZ_ERR_UNSUPPORTED, "not built into this library");
}
