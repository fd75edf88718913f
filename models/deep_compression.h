/* Internal: the Deep Compression SqueezeNet v1.0 importer. */
#ifndef SQZ_MODELS_DEEP_COMPRESSION_H
#define SQZ_MODELS_DEEP_COMPRESSION_H

#include <stddef.h>

#include "sqz.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { SQZ_DC_LAYERS = 26 };

/* Whether the bytes have exactly the size a Deep Compression file with the
 * counts in its header must have: the format has no magic number, so this is
 * how it is recognised. */
int sqz_deep_compression_sniff(const unsigned char *data, size_t size);

/* Decodes the file into SqueezeNet v1.0 (conv10 padding 1, input 227, Caffe
 * preprocessing). If nonzero_counts is not NULL it receives, per layer, the
 * number of stored weights (the header's counts, verified while decoding). */
sqz_status sqz_deep_compression_parse(const char *path, const unsigned char *data, size_t size,
                                      sqz_model **out, unsigned nonzero_counts[SQZ_DC_LAYERS]);

#ifdef __cplusplus
}
#endif

#endif
