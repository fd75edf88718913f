/* sqz-bench: a small streaming JSON writer (indented, keys in the order
 * written, non-finite numbers as null). */
#ifndef SQZ_BENCH_JSON_WRITER_H
#define SQZ_BENCH_JSON_WRITER_H

#include <stdint.h>
#include <stdio.h>

enum { JSON_MAX_DEPTH = 32 };

typedef struct json_writer {
  FILE *out;
  int depth;
  int count[JSON_MAX_DEPTH]; /* values written at each depth */
  int inline_depth;          /* depth from which containers go on one line; 0: none */
} json_writer;

void json_init(json_writer *w, FILE *out);
/* Containers opened at this depth or deeper are written on one line. */
void json_inline_from(json_writer *w, int depth);
/* `key` is NULL for array elements and the top level. */
void json_begin_object(json_writer *w, const char *key);
void json_end_object(json_writer *w);
void json_begin_array(json_writer *w, const char *key);
void json_end_array(json_writer *w);
void json_string(json_writer *w, const char *key, const char *value); /* NULL: null */
void json_int(json_writer *w, const char *key, int64_t value);
void json_uint(json_writer *w, const char *key, uint64_t value);
void json_double(json_writer *w, const char *key, double value); /* non-finite: null */
void json_bool(json_writer *w, const char *key, int value);
void json_null(json_writer *w, const char *key);
/* Ends the document with a newline. */
void json_finish(json_writer *w);

#endif
