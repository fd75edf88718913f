// Misaligned accesses fault on the emulated device as they do on the GPU
// (cudaErrorMisalignedAddress): a float4, uint4, uint2 or __half2 read or
// written at an address that is not a multiple of its size. A host CPU
// takes them silently, so emulated builds compile the kernels with GCC's
// alignment check (-fsanitize=alignment, no recovery), and these are the
// handlers it calls, in place of UBSan's runtime: inside a kernel the
// launch faults, naming the access; anywhere else the process stops with
// the same words. Sanitizer builds link UBSan's runtime and get its report
// instead (CMakeLists.txt chooses).
//
// The argument layout is the one the compilers pass to these entry points
// (a source location, the accessed type's descriptor, the log2 of its
// alignment and the kind of access).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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

[[noreturn]] void misaligned(const TypeMismatchData *d, uintptr_t address) {
  const unsigned long alignment = 1ul << d->log_alignment;
  const char *file = d->where.file ? d->where.file : "?";
  if (!address)  // the alignment check alone never reports null; kept honest
    sqz_emu::fault(cudaErrorIllegalAddress, "%s null pointer of type %s at %s:%u",
                   access_kind(d->check_kind), d->type->name, file, d->where.line);
  if (sqz_emu::in_kernel())
    sqz_emu::fault(cudaErrorMisalignedAddress,
                   "misaligned address: %s %#lx, %s needs %lu-byte alignment, at %s:%u",
                   access_kind(d->check_kind), (unsigned long)address, d->type->name, alignment,
                   file, d->where.line);
  fprintf(
      stderr,
      "sqz emulated device: misaligned address: %s %#lx, %s needs %lu-byte alignment, at %s:%u\n",
      access_kind(d->check_kind), (unsigned long)address, d->type->name, alignment, file,
      d->where.line);
  abort();
}

}  // namespace

extern "C" {
void __ubsan_handle_type_mismatch_v1(const TypeMismatchData *d, uintptr_t address) {
  misaligned(d, address);
}
void __ubsan_handle_type_mismatch_v1_abort(const TypeMismatchData *d, uintptr_t address) {
  misaligned(d, address);
}
}
