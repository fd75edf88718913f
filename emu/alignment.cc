// Misaligned accesses fault on the emulated device as they do on the GPU
// (cudaErrorMisalignedAddress): a float4, uint4, uint2 or __half2 read or
// written at an address that is not a multiple of its size. A host CPU
// takes them silently, so emulated builds compile the kernels with GCC's
// alignment check (-fsanitize=alignment), and these are the handlers it
// calls, in place of UBSan's runtime: inside a kernel the launch faults,
// naming the access; anywhere else the process stops with the same words.
// Sanitizer builds link UBSan's runtime and get its report instead
// (emu/CMakeLists.txt chooses).
//
// The argument layout is the one the compilers pass to these entry points
// (a source location, the accessed type's descriptor, the log2 of its
// alignment and the kind of access).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <string>

#include "emu/internal.h"
#include "emu/sqz_emu.h"

namespace {

struct SourceLocation {
  const char *file;
  uint32_t line, column;
};

struct TypeDescriptor {
  uint16_t kind, info;
  char name[1];
};

struct TypeMismatchData {
  SourceLocation where;
  const TypeDescriptor *type;
  unsigned char log_alignment;
  unsigned char check_kind;
};

const char *access_kind(unsigned char kind) {
  static const char *const kinds[] = {"load of",
                                      "store to",
                                      "reference binding to",
                                      "member access in",
                                      "member call on",
                                      "constructor call on",
                                      "downcast of",
                                      "downcast of",
                                      "upcast of",
                                      "cast to virtual base of",
                                      "nonnull binding to",
                                      "dynamic operation on"};
  return kind < sizeof kinds / sizeof kinds[0] ? kinds[kind] : "access to";
}

// The message of a misaligned access at `address`.
std::string describe(const TypeMismatchData *d, uintptr_t address) {
  char msg[512];
  snprintf(msg, sizeof msg, "misaligned address: %s %#lx, %s needs %lu-byte alignment, at %s:%u",
           access_kind(d->check_kind), (unsigned long)address, d->type->name,
           1ul << d->log_alignment, d->where.file ? d->where.file : "?", d->where.line);
  return msg;
}

}  // namespace

// The kernels are compiled without recovery (the access after the check
// would be an aligned vector instruction on a misaligned address, which the
// host CPU faults on), and the compiler assumes these handlers neither
// return nor throw: inside a kernel, the CUDA thread ends at once and the
// launch fails with the fault; elsewhere the process stops.
[[noreturn]] static void misaligned(const TypeMismatchData *d, uintptr_t address) {
  const std::string msg = describe(d, address);
  if (sqz_emu::in_kernel()) sqz_emu::end_thread_on_fault(cudaErrorMisalignedAddress, msg.c_str());
  fprintf(stderr, "sqz emulated device: %s\n", msg.c_str());
  abort();
}

extern "C" {
void __ubsan_handle_type_mismatch_v1(const TypeMismatchData *d, uintptr_t address) {
  misaligned(d, address);
}
void __ubsan_handle_type_mismatch_v1_abort(const TypeMismatchData *d, uintptr_t address) {
  misaligned(d, address);
}
}
