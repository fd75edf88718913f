/* The Deep Compression importer on any bytes (past its size sniff). */
#include "fuzz_contract.h"
#include "models/deep_compression.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sqz_model *m = NULL;
  sqz_status st = sqz_deep_compression_parse("fuzz.net", data, size, &m, NULL);
  fuzz_check_parsed(st, m);
  return 0;
}
