#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { SQZ_ERROR_CAPACITY = 1024 };

static _Thread_local char last_error[SQZ_ERROR_CAPACITY];

sqz_status sqz_fail(sqz_status status, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, args);
  va_end(args);
  return status;
}

sqz_status sqz_fail_context(sqz_status status, const char *fmt, ...) {
  char context[256];
  va_list args;
  va_start(args, fmt);
  vsnprintf(context, sizeof context, fmt, args);
  va_end(args);
  /* Shift the current message right and put "context: " in front. */
  size_t n = strlen(context);
  memmove(last_error + n + 2, last_error, SQZ_ERROR_CAPACITY - n - 3);
  last_error[SQZ_ERROR_CAPACITY - 1] = '\0';
  memcpy(last_error, context, n);
  last_error[n] = ':';
  last_error[n + 1] = ' ';
  return status;
}

const char *sqz_last_error(void) { return last_error; }

const char *sqz_status_string(sqz_status status) {
  switch (status) {
    case SQZ_OK: return "ok";
    case SQZ_ERR_INVALID_ARGUMENT: return "invalid argument";
    case SQZ_ERR_OUT_OF_MEMORY: return "out of memory";
    case SQZ_ERR_IO: return "i/o error";
    case SQZ_ERR_FORMAT: return "invalid format";
    case SQZ_ERR_UNSUPPORTED: return "unsupported";
    case SQZ_ERR_NO_DEVICE: return "no device";
    case SQZ_ERR_DEVICE: return "device error";
    case SQZ_ERR_INTERNAL: return "internal error";
    case SQZ_ERR_QUEUE_FULL: return "queue full";
    case SQZ_ERR_TIMEOUT: return "timed out";
    case SQZ_ERR_CANCELLED: return "cancelled";
  }
  return "unknown status";
}

const char *sqz_version(void) { return SQZ_VERSION_STRING; }
