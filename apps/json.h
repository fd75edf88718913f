/* JSON string output shared by the sqz tool and sqz-bench. */
#ifndef SQZ_APPS_JSON_H
#define SQZ_APPS_JSON_H

#include <stdio.h>

/* Writes s as a JSON string literal (quotes included, control characters
 * escaped); NULL as null. */
void json_write_string(FILE *out, const char *s);

#endif
