/* Internal: constants of the .sqzw format (docs/file-format.md). */
#ifndef SQZ_MODELS_SQZW_FORMAT_H
#define SQZ_MODELS_SQZW_FORMAT_H

#include "sqz.h"

#define SQZW_MAGIC "\x89SQZW\r\n\x1a"
#define SQZW_MAGIC_SIZE 8
#define SQZW_VERSION 1u
#define SQZW_HEADER_SIZE 16  /* magic, u32 version, u32 crc of both */
#define SQZW_SECTION_HEAD 16 /* tag, u32 flags, u64 length */
#define SQZW_MAX_FILE (1ull << 30)
#define SQZW_MAX_LABEL_ID 63
#define SQZW_MAX_LABEL_NAME 1023

#define SQZW_TAG_ARCH "ARCH"
#define SQZW_TAG_PREP "PREP"
#define SQZW_TAG_LABELS "LABL"
#define SQZW_TAG_TENSOR "TENS"
#define SQZW_TAG_END "END "

enum { SQZW_DTYPE_F32 = 1 };

#ifdef __cplusplus
extern "C" {
#endif

/* Parses a .sqzw image held in memory; `path` names it in errors. */
sqz_status sqz_sqzw_parse(const char *path, const unsigned char *data, size_t size,
                          sqz_model **out);

/* Whether `data` starts like a .sqzw file. */
int sqz_sqzw_sniff(const unsigned char *data, size_t size);

#ifdef __cplusplus
}
#endif

#endif
