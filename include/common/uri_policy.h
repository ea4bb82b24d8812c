/* uri_policy.h: which libvirt URIs the root daemons may open.
 *
 * libvirt runs what a URI says as the caller: qemu+ext runs its command=,
 * socket= and keyfile= name host files, test:///FILE reads FILE.  A host's
 * uri is checked against an allow-list when it is written and again before
 * the reconciler opens it.
 */
#ifndef CFS_URI_POLICY_H
#define CFS_URI_POLICY_H

#include <stdbool.h>

#include "cfs_error.h"

/* 0 when uri may be opened: scheme qemu, qemu+unix, qemu+ssh, qemu+tls or
 * qemu+tcp with path /system or /session and no query parameters other than
 * no_verify, no_tty, mode and proxy; test:///... and qemu+unix's socket=
 * (the test rigs' own libvirtd) only with allow_test (cloudfs.conf
 * allow-test-uri).  Else -1 with EPERM and the reason. */
int uri_policy_check(const char *uri, bool allow_test, struct cfs_err *err);
/* Whether uri names another machine ("qemu+ssh://host/system"), not this
 * one (no host, localhost or 127.0.0.1): what lives there cannot be built
 * from here. */
bool uri_is_remote(const char *uri);

#endif
