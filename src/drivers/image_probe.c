/* image_probe.c: image format detection and checksums (see image_probe.h). */
#include "image_probe.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

int image_probe(const char *path, struct cfs_image_probe *out, struct cfs_err *err)
{
    memset(out, 0, sizeof(*out));
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return cfs_err_set(err, errno, "%s: %s", path, strerror(errno));
    int rc = image_probe_fd(fd, path, out, err);
    close(fd);
    return rc;
}

int image_probe_fd(int fd, const char *path, struct cfs_image_probe *out, struct cfs_err *err)
{
    unsigned char hdr[64], iso[5];
    struct stat sb;
    int rc = -1;
    memset(out, 0, sizeof(*out));
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        cfs_err_set(err, EINVAL, "%s: not a regular file", path);
        goto cleanup;
    }
    out->size = sb.st_size;
    ssize_t n = pread(fd, hdr, sizeof(hdr), 0);
    if (n >= 32 && !memcmp(hdr, "QFI\xfb", 4)) {
        uint32_t version = (uint32_t)hdr[4] << 24 | hdr[5] << 16 | hdr[6] << 8 | hdr[7];
        if (version < 2 || version > 3) {
            cfs_err_set(err, EINVAL, "%s: qcow2 version %u is not supported", path, version);
            goto cleanup;
        }
        if (be64(hdr + 8) != 0) {
            cfs_err_set(err, EINVAL, "%s: a qcow2 with a backing file cannot be imported; "
                        "flatten it first (qemu-img convert)", path);
            goto cleanup;
        }
        snprintf(out->format, sizeof(out->format), "qcow2");
        out->virtual_size = (long long)be64(hdr + 24);
    } else if (pread(fd, iso, sizeof(iso), 0x8001) == (ssize_t)sizeof(iso) &&
               !memcmp(iso, "CD001", 5)) {
        snprintf(out->format, sizeof(out->format), "iso");
        out->virtual_size = sb.st_size;
    } else {
        snprintf(out->format, sizeof(out->format), "raw");
        out->virtual_size = sb.st_size;
    }
    if (out->virtual_size <= 0) {
        cfs_err_set(err, EINVAL, "%s: empty image", path);
        goto cleanup;
    }
    rc = 0;
cleanup:
    return rc;
}

/* ---- SHA-256 ---- */

void cfs_sha256_init(struct cfs_sha256 *s)
{
    sha256_init(&s->ctx);
}

void cfs_sha256_update(struct cfs_sha256 *s, const void *data, size_t len)
{
    sha256_update(&s->ctx, len, data);
}

void cfs_sha256_hex(struct cfs_sha256 *s, char out[65])
{
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_digest(&s->ctx, sizeof(digest), digest);
    for (size_t i = 0; i < sizeof(digest); i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}
