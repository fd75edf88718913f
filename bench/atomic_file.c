/* sqz-bench: temporary file + fsync + rename. */
#define _POSIX_C_SOURCE 200809L /* mkstemp, fsync, fdopen */
#include "atomic_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int bench_write_atomically(const char *path, void (*write)(FILE *out, void *ctx), void *ctx) {
  size_t n = strlen(path);
  char *tmp = malloc(n + 16);
  if (!tmp) {
    fprintf(stderr, "sqz-bench: out of memory writing '%s'\n", path);
    return -1;
  }
  memcpy(tmp, path, n);
  memcpy(tmp + n, ".tmp.XXXXXX", 12);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    fprintf(stderr, "sqz-bench: cannot create a temporary file beside '%s': %s\n", path,
            strerror(errno));
    free(tmp);
    return -1;
  }
  (void)fchmod(fd, 0644); /* mkstemp makes it 0600 */
  FILE *out = fdopen(fd, "w");
  if (!out) {
    fprintf(stderr, "sqz-bench: cannot write '%s': %s\n", tmp, strerror(errno));
    close(fd);
    unlink(tmp);
    free(tmp);
    return -1;
  }
  write(out, ctx);
  int failed = ferror(out) || fflush(out) != 0 || fsync(fileno(out)) != 0;
  int saved = errno;
  if (fclose(out) != 0 && !failed) {
    failed = 1;
    saved = errno;
  }
  if (!failed && rename(tmp, path) != 0) {
    failed = 1;
    saved = errno;
  }
  if (failed) {
    fprintf(stderr, "sqz-bench: writing '%s' failed: %s\n", path, strerror(saved));
    unlink(tmp);
    free(tmp);
    return -1;
  }
  free(tmp);
  return 0;
}
