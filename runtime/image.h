/* Internal: image decoders. Each takes the whole encoded file in memory;
 * `name` names it in errors. */
#ifndef SQZ_RUNTIME_IMAGE_H
#define SQZ_RUNTIME_IMAGE_H

#include <stddef.h>

#include "sqz.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { SQZ_MAX_IMAGE_SIDE = 32768, SQZ_MAX_IMAGE_PIXELS = 1 << 28 };

/* A new image of the given size, pixels uninitialised. */
sqz_status sqz_image_alloc(int width, int height, sqz_image **out);

sqz_status sqz_decode_pnm(const char *name, const unsigned char *data, size_t size,
                          sqz_image **out);
sqz_status sqz_decode_jpeg(const char *name, const unsigned char *data, size_t size,
                           sqz_image **out);
sqz_status sqz_decode_png(const char *name, const unsigned char *data, size_t size,
                          sqz_image **out);

/* Checks a decoded size against the limits above. */
sqz_status sqz_check_image_size(const char *name, long width, long height);

#ifdef __cplusplus
}
#endif

#endif
