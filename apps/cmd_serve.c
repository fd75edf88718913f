#define _GNU_SOURCE /* dl_iterate_phdr */
#include <errno.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void help(FILE *out) {
  fprintf(out,
          "Usage: sqz serve MODEL [OPTIONS]\n"
          "\n"
          "Serves MODEL through Triton Inference Server: runs 'python3 -m sqz.serve MODEL\n"
          "[OPTIONS]' (the sqz Python package and nvidia-pytriton must be installed in that\n"
          "Python, one made with Debian's /usr/bin/python3). The Python package uses this\n"
          "tool's libsqz unless SQZ_LIBRARY says otherwise. See docs/serving.md.\n"
          "\n"
          "Options (passed on):\n"
          "  --backend NAME       auto, cpu, cudnn, unfused, fused (auto)\n"
          "  --precision NAME     fp32 or fp16 (fp32)\n"
          "  --instances N        model instances, one sqz engine each (1)\n"
          "  --max-batch N        Triton's max_batch_size and each engine's (8)\n"
          "  --max-delay-us N     the dynamic batcher's queue delay (500)\n"
          "  --http-port N        (8000)   --grpc-port N (8001)   --metrics-port N (8002)\n"
          "  --name NAME          the model's name in Triton (squeezenet)\n"
          "  --labels FILE        class labels: adds the output 'label'\n"
          "  --input-size N       serve at an N x N input\n"
          "  --cpu-threads N      cpu backend: threads per engine (0 = all)\n"
          "\n"
          "Environment: SQZ_PYTHON, the Python to run (default python3 in PATH).\n");
}

/* dl_iterate_phdr callback: records the path of the loaded libsqz.so. */
static int find_libsqz(struct dl_phdr_info *info, size_t size, void *path) {
  (void)size;
  if (info->dlpi_name && strstr(info->dlpi_name, "/libsqz.so")) {
    *(const char **)path = info->dlpi_name;
    return 1;
  }
  return 0;
}

int cmd_serve(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      help(stdout);
      return CLI_OK;
    }
  if (argc < 2) return cli_usage("serve", "a MODEL is required");
  const char *python = getenv("SQZ_PYTHON");
  if (!python || !*python) python = "python3";
  /* The library this tool runs, for the Python package to load too. */
  const char *library = NULL;
  if (!getenv("SQZ_LIBRARY") && dl_iterate_phdr(find_libsqz, &library) && library)
    setenv("SQZ_LIBRARY", library, 0);
  char **args = calloc((size_t)argc + 3, sizeof *args);
  if (!args) {
    fprintf(stderr, "sqz serve: out of memory\n");
    return CLI_RUNTIME_ERROR;
  }
  args[0] = (char *)python;
  args[1] = "-m";
  args[2] = "sqz.serve";
  for (int i = 1; i < argc; i++) args[i + 2] = argv[i];
  fflush(stdout);
  execvp(python, args);
  fprintf(stderr,
          "sqz serve: cannot run %s: %s (set SQZ_PYTHON to a Python with the sqz "
          "package and nvidia-pytriton)\n",
          python, strerror(errno));
  free(args);
  return CLI_RUNTIME_ERROR;
}
