/* What every harness asserts of the library: a failure is a known status
 * with a message; a success is an object that passes its own checks and
 * runs one cpu forward of the smallest input size it allows. A broken
 * contract aborts, which libFuzzer reports as a crash. */
#ifndef SQZ_TESTS_FUZZ_CONTRACT_H
#define SQZ_TESTS_FUZZ_CONTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "sqz.h"

/* Aborts unless st is a failing status the header names and the thread's
 * message says something. */
void fuzz_check_failure(sqz_status st);

/* Checks a model's queries and tensors (finite weights), then runs one cpu
 * forward at the smallest square input it accepts; aborts on a violation.
 * The forward runs once per architecture (layers and shapes) in a process:
 * its memory accesses depend on the architecture alone, and a fixed-graph
 * format (Deep Compression) would otherwise spend every execution on the
 * same forward. The model is changed (its input size) and left to the
 * caller to free. */
void fuzz_check_model(sqz_model *m);

/* A parser's outcome: the failure checked (fuzz_check_failure), or the
 * model checked (fuzz_check_model) and freed. */
void fuzz_check_parsed(sqz_status st, sqz_model *m);

/* The libFuzzer entry point every harness defines. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A copy of `data` whose .sqzw checksums (header and sections, as far as
 * the lengths allow) are made to match, so that mutations reach the parser
 * behind the checks; other bytes are copied as they are. The caller frees
 * it; NULL when out of memory. */
uint8_t *fuzz_fix_sqzw_checksums(const uint8_t *data, size_t size);

#endif
