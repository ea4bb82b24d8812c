/* pwhash.c: SHA-512 crypt(3) password hashes (see pwhash.h). */
#include "pwhash.h"

#include <crypt.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

static bool b64_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '/';
}

/* n >= min and <= max characters of the crypt alphabet from s, then end. */
static const char *b64_run(const char *s, size_t min, size_t max, char end)
{
    size_t n = 0;
    while (s[n] && b64_char(s[n]))
        n++;
    if (n < min || n > max || s[n] != end)
        return NULL;
    return s + n;
}

bool pwhash_is_hash(const char *s)
{
    if (strncmp(s, "$6$", 3))
        return false;
    s += 3;
    if (!strncmp(s, "rounds=", 7)) {
        const char *d = s + 7;
        size_t n = 0;
        while (isdigit((unsigned char)d[n]))
            n++;
        if (n == 0 || n > 9 || d[n] != '$')
            return false;
        s = d + n + 1;
    }
    s = b64_run(s, 1, 16, '$');
    return s && b64_run(s + 1, 86, 86, '\0') != NULL;
}

int pwhash_make(const char *password, char *out, size_t len, struct cfs_err *err)
{
    unsigned char rnd[16];
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data cd;
    int ret = -1;
    if (len < PWHASH_MAX)
        return cfs_err_set(err, EINVAL, "password hash: no room");
    if (pwhash_is_hash(password)) {
        snprintf(out, len, "%s", password);
        return 0;
    }
    memset(&cd, 0, sizeof(cd));
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        cfs_err_set(err, errno ? errno : EIO, "password hash: no randomness for the salt");
        goto cleanup;
    }
    if (!crypt_gensalt_rn("$6$", 0, (const char *)rnd, (int)sizeof(rnd), salt, sizeof(salt))) {
        cfs_err_set(err, errno ? errno : EIO, "password hash: no salt");
        goto cleanup;
    }
    const char *h = crypt_r(password, salt, &cd);
    if (!h || !pwhash_is_hash(h) || strlen(h) >= len) {
        cfs_err_set(err, EIO, "password hash: the password could not be hashed");
        goto cleanup;
    }
    snprintf(out, len, "%s", h);
    ret = 0;
cleanup:
    explicit_bzero(&cd, sizeof(cd));
    explicit_bzero(rnd, sizeof(rnd));
    return ret;
}
