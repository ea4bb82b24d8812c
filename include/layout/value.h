/* value.h: parsing and normalising attribute values and resource names. */
#ifndef CFS_VALUE_H
#define CFS_VALUE_H

#include <stdbool.h>
#include <stddef.h>

#include "cfs_error.h"
#include "layout.h"

#define CFS_NAME_MAX 63

/* A resource name: 1-63 chars of [A-Za-z0-9._-], not starting with '.' or '-'. */
bool value_name_ok(const char *name);

/* Validate data[0..len) as a value of attribute a and return, in *out, the
 * normalised text to store (malloc'd; caller frees).  One trailing newline is
 * dropped except for BLOB.  References are only checked for syntax here; the
 * store checks that they exist.  On failure returns -1 with EINVAL and a
 * reason naming the attribute. */
int value_normalize(const struct cfs_attr_def *a, const char *data, size_t len,
                    char **out, struct cfs_err *err);

/* "20G" -> 21474836480.  Accepts K/M/G/T (optionally followed by "B" or
 * "iB"), powers of 1024; a bare number is bytes.  Returns -1 on bad input. */
int value_parse_size(const char *s, long long *bytes);
/* 21474836480 -> "20G": the largest unit that divides exactly. */
void value_format_size(long long bytes, char *buf, size_t len);

/* "1.5" -> 150.  Up to two decimals.  Returns -1 on bad input. */
int value_parse_ratio(const char *s, long long *hundredths);
void value_format_ratio(long long hundredths, char *buf, size_t len);

#endif
