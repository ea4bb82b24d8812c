/* fusefloor.c: the FUSE floor for `make bench`.
 *
 * A minimal libfuse3 high-level filesystem that serves one constant file,
 * /state ("running\n"), with the options cloudfs mounts with (see
 * src/fs/fs_ops.c: default_permissions, 1 s entry/attr timeouts, no negative
 * cache, direct_io on open, multi-threaded loop).  Reading it costs what
 * any FUSE filesystem of this shape costs on this machine: the difference
 * to cloudfs is cloudfs's own work.
 *
 *   fusefloor MOUNTPOINT     (stays in the foreground; fusermount3 -u to stop)
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fuse.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char content[] = "running\n";

static void *floor_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    (void)conn;
    cfg->entry_timeout = 1.0;
    cfg->attr_timeout = 1.0;
    cfg->negative_timeout = 0;
    cfg->hard_remove = 1;
    return NULL;
}

static int floor_getattr(const char *path, struct stat *s, struct fuse_file_info *fi)
{
    (void)fi;
    memset(s, 0, sizeof(*s));
    if (!strcmp(path, "/")) {
        s->st_mode = S_IFDIR | 0755;
        s->st_nlink = 2;
        return 0;
    }
    if (!strcmp(path, "/state")) {
        s->st_mode = S_IFREG | 0644;
        s->st_nlink = 1;
        s->st_size = sizeof(content) - 1;
        return 0;
    }
    return -ENOENT;
}

static int floor_open(const char *path, struct fuse_file_info *fi)
{
    if (strcmp(path, "/state"))
        return -ENOENT;
    fi->direct_io = 1;      /* as cloudfs: values change behind the cache */
    return 0;
}

static int floor_read(const char *path, char *buf, size_t size, off_t off,
                      struct fuse_file_info *fi)
{
    (void)path;
    (void)fi;
    size_t len = sizeof(content) - 1;
    if ((size_t)off >= len)
        return 0;
    if (size > len - (size_t)off)
        size = len - (size_t)off;
    memcpy(buf, content + off, size);
    return (int)size;
}

static int floor_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                         struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    (void)path;
    (void)off;
    (void)fi;
    (void)flags;
    fill(buf, ".", NULL, 0, 0);
    fill(buf, "..", NULL, 0, 0);
    fill(buf, "state", NULL, 0, 0);
    return 0;
}

static const struct fuse_operations floor_ops = {
    .init = floor_init,
    .getattr = floor_getattr,
    .open = floor_open,
    .read = floor_read,
    .readdir = floor_readdir,
};

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fusefloor MOUNTPOINT\n");
        return 2;
    }
    char *args[] = {argv[0], argv[1], (char *)"-f", (char *)"-o",
                    (char *)"default_permissions,allow_other,fsname=fusefloor", NULL};
    return fuse_main(5, args, &floor_ops, NULL);
}
