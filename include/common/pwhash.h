/* pwhash.h: passwords as crypt(3) SHA-512 hashes ("$6$SALT$HASH"), the form
 * they are stored in and handed to cloud-init and the guest agent. */
#ifndef CFS_PWHASH_H
#define CFS_PWHASH_H

#include <stdbool.h>
#include <stddef.h>

#include "cfs_error.h"

/* Room for any hash pwhash_make writes or keeps. */
#define PWHASH_MAX 256

/* s is a well-formed SHA-512 crypt hash: "$6$", an optional "rounds=N$",
 * a salt of 1..16 of [./0-9A-Za-z] and "$", then 86 of [./0-9A-Za-z]. */
bool pwhash_is_hash(const char *s);

/* The hash of password into out (len >= PWHASH_MAX): a value that already
 * is a hash (pwhash_is_hash) is copied as it is, so hashing is idempotent;
 * anything else is hashed with a fresh 16-byte salt from getrandom.
 * 0, or -1 with err (no randomness, crypt failure, out too small). */
int pwhash_make(const char *password, char *out, size_t len, struct cfs_err *err);

#endif
