/* Internal: setting the thread-local error message that sqz_last_error()
 * returns. Every failure path in the library goes through sqz_fail. */
#ifndef SQZ_RUNTIME_ERROR_H
#define SQZ_RUNTIME_ERROR_H

#include "sqz.h"

#if defined(__GNUC__)
#define SQZ_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define SQZ_PRINTF(fmt, args)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Records the message for this thread and returns `status`, so that a
 * failure reads `return sqz_fail(SQZ_ERR_FORMAT, "%s: ...", path);`. */
sqz_status sqz_fail(sqz_status status, const char *fmt, ...) SQZ_PRINTF(2, 3);

/* Prepends "context: " to this thread's current message and returns status;
 * for adding the file name or layer to an error raised deeper down. */
sqz_status sqz_fail_context(sqz_status status, const char *fmt, ...) SQZ_PRINTF(2, 3);

#ifdef __cplusplus
}
#endif

/* Returns from the calling function when `expr` yields a failing status. */
#define SQZ_TRY(expr)                                      \
  do {                                                     \
    sqz_status sqz_try_status_ = (expr);                   \
    if (sqz_try_status_ != SQZ_OK) return sqz_try_status_; \
  } while (0)

#endif
