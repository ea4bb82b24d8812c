/* value.h: parsing and normalising attribute values and resource names. */
#ifndef CFS_VALUE_H
#define CFS_VALUE_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "cfs_error.h"
#include "layout.h"

#define CFS_NAME_MAX 63

/* A resource name: 1-63 chars of [A-Za-z0-9._-], not starting with '.' or '-'. */
bool value_name_ok(const char *name);
/* The name of a resource of kind k: value_name_ok, and for a quota also
 * "@GROUP" (the quota of a local group, quotas/@GROUP/). */
bool value_res_name_ok(const struct cfs_kind *k, const char *name);

/* Validate data[0..len) as a value of attribute a and return, in *out, the
 * normalised text to store (malloc'd; caller frees).  One trailing newline is
 * dropped except for BLOB.  References are only checked for syntax here; the
 * store checks that they exist.  On failure returns -1 with EINVAL and a
 * reason naming the attribute. */
int value_normalize(const struct cfs_attr_def *a, const char *data, size_t len,
                    char **out, struct cfs_err *err);

/* Tags (the whitepaper's, §7.9): "key=value" lines, at most VALUE_TAGS_MAX
 * of them, each at most VALUE_TAG_CHARS characters, one value per key (keys
 * are case-sensitive).  Key and value each name a directory of /tags: not
 * empty, no '/', not "." or "..", at most NAME_MAX bytes.  Blanks around
 * them and blank lines are dropped; the normal form is the lines in the
 * order written, without a trailing newline. */
#define VALUE_TAGS_MAX 50
#define VALUE_TAG_CHARS 127
/* Most bytes a tags value may take as written (4-byte characters, blanks). */
#define VALUE_TAGS_BYTES (VALUE_TAGS_MAX * (VALUE_TAG_CHARS * 4 + 2) + 4096)
/* Call cb(key, value, arg) for each tag of a normalised tags value, in
 * order; stops at and returns the first non-zero result of cb (-1 with
 * ENOMEM set in errno when out of memory). */
typedef int (*value_tag_cb)(const char *key, const char *value, void *arg);
int value_tags_each(const char *tags, value_tag_cb cb, void *arg);

/* "20G" -> 21474836480.  Accepts K/M/G/T (optionally followed by "B" or
 * "iB"), powers of 1024; a bare number is bytes.  Returns -1 on bad input. */
int value_parse_size(const char *s, long long *bytes);
/* 21474836480 -> "20G": the largest unit that divides exactly. */
void value_format_size(long long bytes, char *buf, size_t len);

/* "1.5" -> 150.  Up to two decimals.  Returns -1 on bad input. */
int value_parse_ratio(const char *s, long long *hundredths);
void value_format_ratio(long long hundredths, char *buf, size_t len);

/* An http:// or https:// URL: a host (name, IPv4 or [IPv6]), an optional
 * port 1..65535, optional user information, a path and query without
 * blanks, quotes or control characters. */
bool value_url_ok(const char *url);
/* url without its user information, query and fragment (which may hold
 * credentials), for messages: "https://example.com:8443/hook". */
void value_url_redacted(const char *url, char *buf, size_t len);

/* A finite decimal number: [-]digits[.digits], as a double. */
int value_parse_decimal(const char *s, double *out);

/* A Prometheus series selector: a metric name and label matchers,
 * name{label="value",label!="value",label=~"regex",label!~"regex"}.
 * Regular expressions are POSIX extended ones, anchored at both ends as
 * Prometheus anchors its own. */
enum value_match_op { VALUE_MATCH_EQ, VALUE_MATCH_NE, VALUE_MATCH_RE, VALUE_MATCH_NRE };
#define VALUE_SELECTOR_MAX 16
struct value_matcher {
    char label[64];
    enum value_match_op op;
    char *value;
    bool compiled;
    regex_t re;
};
struct value_selector {
    char name[128];
    size_t n;
    struct value_matcher m[VALUE_SELECTOR_MAX];
};
/* Parse s strictly (blanks allowed between tokens only); on success *out
 * holds the selector (value_selector_free it) and, when canon is not NULL,
 * *canon its canonical spelling without blanks (malloc'd).  Fails with
 * EINVAL and the reason. */
int value_selector_parse(const char *s, struct value_selector *out, char **canon,
                         struct cfs_err *err);
void value_selector_free(struct value_selector *sel);
/* Does the series (a selector of = matchers only, as a line of the
 * exposition reads) match sel?  A label the series lacks counts as "". */
bool value_selector_matches(const struct value_selector *sel, const struct value_selector *series);

#endif
