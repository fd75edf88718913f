/* sqz-bench: the JSON writer (see json_writer.h). */
#include "json_writer.h"

#include <inttypes.h>
#include <math.h>

#include "json.h" /* apps/json.h */

void json_init(json_writer *w, FILE *out) {
  w->out = out;
  w->depth = 0;
  w->count[0] = 0;
  w->inline_depth = 0;
}

void json_inline_from(json_writer *w, int depth) { w->inline_depth = depth; }

static int is_inline(const json_writer *w) {
  return w->inline_depth > 0 && w->depth >= w->inline_depth;
}

/* The separator, newline and indentation before a value, then its key. */
static void begin_value(json_writer *w, const char *key) {
  if (w->depth > 0) {
    if (w->count[w->depth]++) fputc(',', w->out);
    if (is_inline(w)) {
      if (w->count[w->depth] > 1) fputc(' ', w->out);
    } else {
      fputc('\n', w->out);
      for (int i = 0; i < w->depth; i++) fputs("  ", w->out);
    }
  }
  if (key) {
    json_write_string(w->out, key);
    fputs(": ", w->out);
  }
}

static void open_container(json_writer *w, const char *key, char bracket) {
  begin_value(w, key);
  fputc(bracket, w->out);
  if (w->depth + 1 < JSON_MAX_DEPTH) w->depth++;
  w->count[w->depth] = 0;
}

static void close_container(json_writer *w, char bracket) {
  int had = w->count[w->depth] > 0;
  int was_inline = is_inline(w);
  if (w->depth > 0) w->depth--;
  if (had && !was_inline) {
    fputc('\n', w->out);
    for (int i = 0; i < w->depth; i++) fputs("  ", w->out);
  }
  fputc(bracket, w->out);
}

void json_begin_object(json_writer *w, const char *key) { open_container(w, key, '{'); }
void json_end_object(json_writer *w) { close_container(w, '}'); }
void json_begin_array(json_writer *w, const char *key) { open_container(w, key, '['); }
void json_end_array(json_writer *w) { close_container(w, ']'); }

void json_string(json_writer *w, const char *key, const char *value) {
  begin_value(w, key);
  if (value)
    json_write_string(w->out, value);
  else
    fputs("null", w->out);
}

void json_int(json_writer *w, const char *key, int64_t value) {
  begin_value(w, key);
  fprintf(w->out, "%" PRId64, value);
}

void json_uint(json_writer *w, const char *key, uint64_t value) {
  begin_value(w, key);
  fprintf(w->out, "%" PRIu64, value);
}

void json_double(json_writer *w, const char *key, double value) {
  begin_value(w, key);
  if (isfinite(value))
    fprintf(w->out, "%.8g", value);
  else
    fputs("null", w->out);
}

void json_bool(json_writer *w, const char *key, int value) {
  begin_value(w, key);
  fputs(value ? "true" : "false", w->out);
}

void json_null(json_writer *w, const char *key) {
  begin_value(w, key);
  fputs("null", w->out);
}

void json_finish(json_writer *w) { fputc('\n', w->out); }
