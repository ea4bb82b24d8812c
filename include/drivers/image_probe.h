/* image_probe.h: what an image file really is, read from its header.
 *
 * The format comes from the bytes, never from the file name: a qcow2
 * header, an ISO 9660 volume descriptor, or else raw.
 */
#ifndef CFS_IMAGE_PROBE_H
#define CFS_IMAGE_PROBE_H

#include <nettle/sha2.h>
#include <stddef.h>
#include <stdint.h>

#include "cfs_error.h"

struct cfs_image_probe {
    char format[8];             /* qcow2, iso or raw */
    long long size;             /* bytes in the file */
    long long virtual_size;     /* size of the disk it describes */
};

/* Probe path.  EINVAL for files that cannot be images (not a regular file,
 * a qcow2 naming a backing file, which would reach outside the catalogue). */
int image_probe(const char *path, struct cfs_image_probe *out, struct cfs_err *err);
/* The same for an open descriptor (path names it in messages). */
int image_probe_fd(int fd, const char *path, struct cfs_image_probe *out, struct cfs_err *err);

/* SHA-256 of a stream (nettle's, which uses the CPU's SHA instructions). */
struct cfs_sha256 {
    struct sha256_ctx ctx;
};
void cfs_sha256_init(struct cfs_sha256 *s);
void cfs_sha256_update(struct cfs_sha256 *s, const void *data, size_t len);
/* 64 hex digits and a NUL. */
void cfs_sha256_hex(struct cfs_sha256 *s, char out[65]);

#endif
