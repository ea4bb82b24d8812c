/* uri_policy.c: the allow-list of libvirt URIs (see uri_policy.h). */
#include "uri_policy.h"

#include <stdbool.h>
#include <string.h>

static bool one_of(const char *s, size_t len, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strlen(list[i]) == len && !strncmp(s, list[i], len))
            return true;
    return false;
}

int uri_policy_check(const char *uri, bool allow_test, struct cfs_err *err)
{
    static const char *const transports[] = {"unix", "ssh", "tls", "tcp", NULL};
    static const char *const paths[] = {"/system", "/session", NULL};
    static const char *const params[] = {"no_verify", "no_tty", "mode", "proxy", NULL};
    const char *colon = strchr(uri, ':');
    if (!colon || strncmp(colon, "://", 3))
        return cfs_err_set(err, EPERM, "uri: '%.64s' is not driver[+transport]://[host]/path",
                           uri);
    size_t slen = (size_t)(colon - uri);
    const char *plus = memchr(uri, '+', slen);
    size_t dlen = plus ? (size_t)(plus - uri) : slen;
    if (dlen == 4 && !strncmp(uri, "test", 4)) {
        if (!allow_test)
            return cfs_err_set(err, EPERM,
                               "uri: the test driver is refused (cloudfs.conf allow-test-uri)");
        if (plus || strncmp(colon, ":///", 4) || strpbrk(uri, "?#"))
            return cfs_err_set(err, EPERM, "uri: test URIs are test:///PATH only");
        return 0;
    }
    if (dlen != 4 || strncmp(uri, "qemu", 4))
        return cfs_err_set(err, EPERM, "uri: driver '%.*s' is refused: only qemu", (int)dlen,
                           uri);
    if (plus && !one_of(plus + 1, slen - dlen - 1, transports))
        return cfs_err_set(err, EPERM,
                           "uri: transport '%.*s' is refused: only unix, ssh, tls, tcp",
                           (int)(slen - dlen - 1), plus + 1);
    if (strchr(uri, '#'))
        return cfs_err_set(err, EPERM, "uri: a fragment is refused");
    const char *auth = colon + 3;
    const char *path = strchr(auth, '/');
    if (!path)
        return cfs_err_set(err, EPERM, "uri: no path (/system or /session)");
    const char *query = strchr(path, '?');
    size_t plen = query ? (size_t)(query - path) : strlen(path);
    if (!one_of(path, plen, paths))
        return cfs_err_set(err, EPERM, "uri: path '%.*s' is refused: only /system or /session",
                           (int)(plen > 64 ? 64 : plen), path);
    if (memchr(auth, '?', (size_t)(path - auth)))
        return cfs_err_set(err, EPERM, "uri: a query before the path is refused");
    for (const char *p = query ? query + 1 : NULL; p && *p;) {
        size_t len = strcspn(p, "&");
        size_t name = strcspn(p, "=&");
        if (name > len)
            name = len;
        /* A test rig's libvirtd listens on its own socket (scripts/hosts-up.sh). */
        bool rig_socket = allow_test && plus && !strncmp(plus, "+unix:", 6) &&
                          one_of(p, name, (const char *const[]){"socket", NULL});
        if (!rig_socket && !one_of(p, name, params))
            return cfs_err_set(err, EPERM,
                               "uri: parameter '%.*s' is refused: only no_verify, no_tty, mode, "
                               "proxy",
                               (int)(name > 32 ? 32 : name), p);
        p += len;
        if (*p == '&')
            p++;
    }
    return 0;
}

bool uri_is_remote(const char *uri)
{
    const char *p = strstr(uri, "://");
    if (!p)
        return false;
    p += 3;
    size_t n = strcspn(p, "/?");
    return n > 0 && !(n == 9 && !strncmp(p, "localhost", 9)) &&
           !(n == 9 && !strncmp(p, "127.0.0.1", 9));
}
