#define _POSIX_C_SOURCE 200809L
#include "file_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../runtime/alloc.h"
#include "../runtime/error.h"

sqz_status sqz_read_file(const char *path, size_t max_bytes, char **data, size_t *size) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return sqz_fail(SQZ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  sqz_status st = SQZ_OK;
  char *buf = NULL;
  struct stat info;
  long len = -1;
  if (fstat(fileno(fp), &info) != 0 || !S_ISREG(info.st_mode))
    st = sqz_fail(SQZ_ERR_IO, "%s: not a regular file", path);
  else
    len = (long)info.st_size;
  if (st != SQZ_OK) {
    /* reported below */
  } else if ((unsigned long)len > max_bytes)
    st = sqz_fail(SQZ_ERR_FORMAT, "%s: %ld bytes, more than the %zu allowed", path, len, max_bytes);
  if (st == SQZ_OK) {
    buf = sqz_malloc((size_t)len + 1, path);
    if (!buf) st = SQZ_ERR_OUT_OF_MEMORY;
  }
  if (st == SQZ_OK && fread(buf, 1, (size_t)len, fp) != (size_t)len)
    st = sqz_fail(SQZ_ERR_IO, "%s: read failed", path);
  fclose(fp);
  if (st != SQZ_OK) {
    sqz_free(buf);
    return st;
  }
  buf[len] = '\0';
  *data = buf;
  *size = (size_t)len;
  return SQZ_OK;
}

sqz_status sqz_atomic_open(const char *path, sqz_atomic_file *f) {
  memset(f, 0, sizeof *f);
  f->path = path;
  size_t n = strlen(path);
  f->tmp_path = sqz_malloc(n + 16, "temporary file name");
  if (!f->tmp_path) return SQZ_ERR_OUT_OF_MEMORY;
  memcpy(f->tmp_path, path, n);
  memcpy(f->tmp_path + n, ".tmp.XXXXXX", 12);
  int fd = mkstemp(f->tmp_path);
  if (fd < 0) {
    sqz_status st = sqz_fail(SQZ_ERR_IO, "%s: cannot create a temporary file beside it: %s", path,
                             strerror(errno));
    sqz_free(f->tmp_path);
    f->tmp_path = NULL;
    return st;
  }
  /* mkstemp makes the file private (0600); a saved model is an ordinary
   * readable file. */
  (void)fchmod(fd, 0644);
  f->fp = fdopen(fd, "wb");
  if (!f->fp) {
    sqz_status st = sqz_fail(SQZ_ERR_IO, "%s: fdopen failed: %s", path, strerror(errno));
    close(fd);
    sqz_atomic_abort(f);
    return st;
  }
  return SQZ_OK;
}

sqz_status sqz_atomic_write(sqz_atomic_file *f, const void *data, size_t n) {
  if (n && fwrite(data, 1, n, f->fp) != n)
    return sqz_fail(SQZ_ERR_IO, "%s: write failed: %s", f->path, strerror(errno));
  return SQZ_OK;
}

sqz_status sqz_atomic_commit(sqz_atomic_file *f) {
  sqz_status st = SQZ_OK;
  if (fflush(f->fp) != 0 || fsync(fileno(f->fp)) != 0)
    st = sqz_fail(SQZ_ERR_IO, "%s: flushing failed: %s", f->path, strerror(errno));
  if (fclose(f->fp) != 0 && st == SQZ_OK)
    st = sqz_fail(SQZ_ERR_IO, "%s: closing failed: %s", f->path, strerror(errno));
  f->fp = NULL;
  if (st == SQZ_OK && rename(f->tmp_path, f->path) != 0)
    st = sqz_fail(SQZ_ERR_IO, "%s: cannot rename the temporary file over it: %s", f->path,
                  strerror(errno));
  if (st != SQZ_OK) {
    sqz_atomic_abort(f);
    return st;
  }
  sqz_free(f->tmp_path);
  f->tmp_path = NULL;
  return SQZ_OK;
}

void sqz_atomic_abort(sqz_atomic_file *f) {
  if (f->fp) fclose(f->fp);
  f->fp = NULL;
  if (f->tmp_path) remove(f->tmp_path);
  sqz_free(f->tmp_path);
  f->tmp_path = NULL;
}
