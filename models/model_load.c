/* sqz_model_load: recognises the file kind by content and parses it. */
#include "../runtime/alloc.h"
#include "../runtime/error.h"
#include "deep_compression.h"
#include "file_util.h"
#include "model_load.h"
#include "sqzw_format.h"

sqz_status sqz_model_parse(const char *origin, const unsigned char *bytes, size_t size,
                           sqz_model **out) {
  if (sqz_sqzw_sniff(bytes, size)) return sqz_sqzw_parse(origin, bytes, size, out);
  if (sqz_deep_compression_sniff(bytes, size))
    return sqz_deep_compression_parse(origin, bytes, size, out, NULL);
  return sqz_fail(SQZ_ERR_FORMAT,
                  "%s: not a model file: no .sqzw magic, and not a Deep Compression "
                  "SqueezeNet file (its size does not match the counts in its header)",
                  origin);
}

sqz_status sqz_model_load(const char *path, sqz_model **out) {
  if (!path || !out) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "path and out must not be NULL");
  char *data;
  size_t size;
  SQZ_TRY(sqz_read_file(path, SQZW_MAX_FILE, &data, &size));
  sqz_status st = sqz_model_parse(path, (const unsigned char *)data, size, out);
  sqz_free(data);
  return st;
}
