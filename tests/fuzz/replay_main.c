/* Runs a harness once over files and folders of inputs, without libFuzzer:
 * how ctest replays the kept regressions and seeds in every build. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_contract.h"
#include "runtime/alloc.h"

/* No input kept here is larger than a few megabytes; one that makes the
 * library ask for more than this at once is a regression (libFuzzer's
 * out-of-memory finding). */
static const size_t kMaxRequest = (size_t)512 << 20;

static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: cannot open %s\n", path);
    return 1;
  }
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = malloc(cap);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      uint8_t *bigger = realloc(buf, cap *= 2);
      if (!bigger) free(buf);
      buf = bigger;
    }
  }
  fclose(f);
  if (!buf) {
    fprintf(stderr, "replay: out of memory reading %s\n", path);
    return 1;
  }
  sqz_debug_largest_alloc(1);
  LLVMFuzzerTestOneInput(buf, n);
  free(buf);
  const size_t largest = sqz_debug_largest_alloc(1);
  if (largest > kMaxRequest) {
    fprintf(stderr, "replay: %s made the library ask for %zu bytes at once\n", path, largest);
    return 1;
  }
  return 0;
}

static int replay(const char *path, int *count) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "replay: %s does not exist\n", path);
    return 1;
  }
  if (!S_ISDIR(st.st_mode)) {
    (*count)++;
    return replay_file(path);
  }
  DIR *d = opendir(path);
  if (!d) return 1;
  int rc = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char child[4096];
    snprintf(child, sizeof child, "%s/%s", path, e->d_name);
    rc |= replay(child, count);
  }
  closedir(d);
  return rc;
}

int main(int argc, char **argv) {
  int rc = 0, count = 0;
  for (int i = 1; i < argc; i++) rc |= replay(argv[i], &count);
  printf("replayed %d input(s)\n", count);
  return rc;
}
