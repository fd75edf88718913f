/* The .sqzw reader on any bytes, their checksums made to match first. */
#include <stdlib.h>

#include "fuzz_contract.h"
#include "models/sqzw_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *fixed = fuzz_fix_sqzw_checksums(data, size);
  if (!fixed) return 0;
  sqz_model *m = NULL;
  sqz_status st = sqz_sqzw_parse("fuzz.sqzw", fixed, size, &m);
  free(fixed);
  fuzz_check_parsed(st, m);
  return 0;
}
