/* Class labels from a text file: one class per line, "wnid name" or "name". */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "../runtime/alloc.h"
#include "../runtime/error.h"
#include "../runtime/model.h"
#include "file_util.h"
#include "labels.h"

/* "n01440764": an ImageNet wnid, which becomes the label's id. */
static int is_wnid(const char *s, size_t n) {
  if (n != 9 || s[0] != 'n') return 0;
  for (size_t i = 1; i < n; i++)
    if (!isdigit((unsigned char)s[i])) return 0;
  return 1;
}

static char *copy_span(const char *s, size_t n) {
  char *c = sqz_malloc(n + 1, "label");
  if (c) {
    memcpy(c, s, n);
    c[n] = '\0';
  }
  return c;
}

/* Splits `text` (size bytes, may lack a final newline) into per-class ids
 * and names. */
static sqz_status parse_labels(const char *path, const char *text, size_t size, int classes,
                               char **ids, char **names) {
  int line = 0;
  size_t pos = 0;
  while (pos < size) {
    size_t end = pos;
    while (end < size && text[end] != '\n') end++;
    size_t len = end - pos;
    if (len > 0 && text[pos + len - 1] == '\r') len--;
    const char *s = text + pos;
    pos = end + 1;
    if (len == 0 && pos >= size) break; /* trailing empty line */
    if (line >= classes)
      return sqz_fail(SQZ_ERR_FORMAT, "%s: more than %d lines, but the model has %d classes", path,
                      classes, classes);
    for (size_t i = 0; i < len; i++)
      if (s[i] == '\0')
        return sqz_fail(SQZ_ERR_FORMAT, "%s: line %d has a NUL byte", path, line + 1);
    size_t id_len = 0;
    while (id_len < len && s[id_len] != ' ' && s[id_len] != '\t') id_len++;
    if (is_wnid(s, id_len)) {
      size_t name_at = id_len;
      while (name_at < len && (s[name_at] == ' ' || s[name_at] == '\t')) name_at++;
      ids[line] = copy_span(s, id_len);
      names[line] = copy_span(s + name_at, len - name_at);
    } else {
      ids[line] = copy_span("", 0);
      names[line] = copy_span(s, len);
    }
    if (!ids[line] || !names[line]) return SQZ_ERR_OUT_OF_MEMORY;
    line++;
  }
  if (line != classes)
    return sqz_fail(SQZ_ERR_FORMAT, "%s: %d label lines, but the model has %d classes", path, line,
                    classes);
  return SQZ_OK;
}

sqz_status sqz_model_parse_labels(sqz_model *m, const char *origin, const char *text, size_t size) {
  char **ids = sqz_calloc((size_t)m->num_classes, sizeof *ids, "label ids");
  char **names = sqz_calloc((size_t)m->num_classes, sizeof *names, "label names");
  sqz_status st = ids && names ? SQZ_OK : SQZ_ERR_OUT_OF_MEMORY;
  if (st == SQZ_OK) st = parse_labels(origin, text, size, m->num_classes, ids, names);
  if (st != SQZ_OK) {
    sqz_free_strings(ids, m->num_classes);
    sqz_free_strings(names, m->num_classes);
    return st;
  }
  sqz_model_adopt_labels(m, ids, names);
  return SQZ_OK;
}

sqz_status sqz_model_load_labels(sqz_model *m, const char *path) {
  if (!m || !path) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "model and path must not be NULL");
  char *text;
  size_t size;
  SQZ_TRY(sqz_read_file(path, 64u << 20, &text, &size));
  sqz_status st = sqz_model_parse_labels(m, path, text, size);
  sqz_free(text);
  return st;
}
