/* vm_seed.c: the cloud-init NoCloud seed of a VM (see vm_seed.h). */
#include "vm_seed.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "pwhash.h"
#include "rc_store.h"
#include "subprocess.h"
#include "textbuf.h"

/* dir and its missing parents (0700: the seeds hold password hashes). */
static int make_dir(const char *dir, struct cfs_err *err)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return cfs_err_set(err, errno, "seed: %s: %s", p, strerror(errno));
        *s = '/';
    }
    if (mkdir(p, 0700) < 0 && errno != EEXIST)
        return cfs_err_set(err, errno, "seed: %s: %s", p, strerror(errno));
    return 0;
}

/* Write text to dir/name, 0600.  0, or -1 with err. */
static int put_file(const char *dir, const char *name, const char *text, struct cfs_err *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return cfs_err_set(err, errno, "seed: %s: %s", path, strerror(errno));
    size_t n = strlen(text), off = 0;
    int ret = 0;
    while (off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0) {
            ret = cfs_err_set(err, errno, "seed: %s: %s", path, strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    if (close(fd) < 0 && ret == 0)
        ret = cfs_err_set(err, errno, "seed: %s: %s", path, strerror(errno));
    return ret;
}

/* The three files' text.  Every value is either checked by the layout
 * (host name, UUID, key lines) or written as a JSON string, which YAML
 * reads as the same string. */
static int seed_texts(struct reconciler *rc, const struct cfs_res *vm, struct textbuf *meta,
                      struct textbuf *user, struct textbuf *vendor, struct cfs_err *err)
{
    char *hostname = rc_attr(rc, vm->id, "hostname");
    char *password = rc_attr(rc, vm->id, "password");
    char *user_data = rc_attr(rc, vm->id, "user-data");
    char *keys = rc_attr(rc, vm->id, "ssh-keys");
    char hash[PWHASH_MAX];
    int ret = 0;

    tb_puts(meta, "instance-id: ");
    tb_json(meta, vm->uuid);
    tb_puts(meta, "\nlocal-hostname: ");
    tb_json(meta, hostname[0] ? hostname : vm->name);
    tb_puts(meta, "\n");
    if (keys[0]) {
        tb_puts(meta, "public-keys:\n");
        for (char *line = keys, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next)
                *next++ = '\0';
            if (!line[0])
                continue;
            tb_puts(meta, "  - ");
            tb_json(meta, line);
            tb_puts(meta, "\n");
        }
    }

    tb_puts(user, user_data[0] ? user_data : "#cloud-config\n{}\n");

    tb_puts(vendor, "#cloud-config\n");
    if (password[0]) {
        if (pwhash_make(password, hash, sizeof(hash), err) < 0) {
            ret = -1;
            goto cleanup;
        }
        tb_puts(vendor, "disable_root: false\nssh_pwauth: true\nchpasswd:\n"
                        "  expire: false\n  list:\n    - ");
        struct textbuf entry = {0};
        tb_printf(&entry, "root:%s", hash);
        tb_json(vendor, entry.s ? entry.s : "");
        tb_free(&entry);
        tb_puts(vendor, "\n");
        explicit_bzero(hash, sizeof(hash));
    } else {
        tb_puts(vendor, "{}\n");
    }

cleanup:
    if (password[0])
        explicit_bzero(password, strlen(password));
    free(hostname);
    free(password);
    free(user_data);
    free(keys);
    return ret;
}

/* network-config v2: every NIC by its MAC, its tree name, DHCP. */
static void network_config(const struct vm_seed_nic *nics, int n, struct textbuf *b)
{
    tb_puts(b, "version: 2\nethernets:");
    if (n == 0)
        tb_puts(b, " {}");
    tb_puts(b, "\n");
    for (int i = 0; i < n; i++) {
        tb_puts(b, "  ");
        tb_json(b, nics[i].name);
        tb_puts(b, ":\n    match:\n      macaddress: ");
        tb_json(b, nics[i].mac);
        tb_puts(b, "\n    set-name: ");
        tb_json(b, nics[i].name);
        tb_puts(b, "\n    dhcp4: true\n");
    }
}

int vm_seed_make(struct reconciler *rc, const struct cfs_res *vm, const struct vm_seed_nic *nics,
                 int n, char *path, size_t len, struct cfs_err *err)
{
    const char *dir = rc->conf->seed_dir;
    char tmpdir[4096], tmpiso[4096];
    struct textbuf meta = {0}, user = {0}, vendor = {0}, net = {0};
    int ret = -1;
    bool made_dir = false;

    if (make_dir(dir, err) < 0)
        return -1;
    snprintf(path, len, "%s/%s.iso", dir, vm->uuid);
    snprintf(tmpdir, sizeof(tmpdir), "%s/.%s.d", dir, vm->uuid);
    snprintf(tmpiso, sizeof(tmpiso), "%s/.%s.iso", dir, vm->uuid);

    if (seed_texts(rc, vm, &meta, &user, &vendor, err) < 0)
        goto cleanup;
    network_config(nics, n, &net);
    if (mkdir(tmpdir, 0700) < 0 && errno != EEXIST) {
        cfs_err_set(err, errno, "seed: %s: %s", tmpdir, strerror(errno));
        goto cleanup;
    }
    made_dir = true;
    if (put_file(tmpdir, "meta-data", meta.s ? meta.s : "", err) < 0 ||
        put_file(tmpdir, "user-data", user.s ? user.s : "", err) < 0 ||
        put_file(tmpdir, "vendor-data", vendor.s ? vendor.s : "", err) < 0 ||
        put_file(tmpdir, "network-config", net.s ? net.s : "", err) < 0)
        goto cleanup;
    char *argv[] = {"genisoimage", "-quiet", "-output", tmpiso, "-volid", "cidata",
                    "-joliet", "-rock", tmpdir, NULL};
    if (spawn_run(argv, NULL, NULL, rc->conf->storage_timeout, err) < 0)
        goto cleanup;
    if (chmod(tmpiso, 0600) < 0 || rename(tmpiso, path) < 0) {
        cfs_err_set(err, errno, "seed: %s: %s", path, strerror(errno));
        goto cleanup;
    }
    ret = 0;

cleanup:
    if (made_dir) {
        static const char *const files[] = {"meta-data", "user-data", "vendor-data",
                                            "network-config"};
        char f[4200];
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            snprintf(f, sizeof(f), "%s/%s", tmpdir, files[i]);
            unlink(f);
        }
        rmdir(tmpdir);
    }
    unlink(tmpiso);
    /* The texts may hold the password hash and the user's data. */
    if (vendor.s)
        explicit_bzero(vendor.s, strlen(vendor.s));
    tb_free(&meta);
    tb_free(&user);
    tb_free(&vendor);
    tb_free(&net);
    return ret;
}

void vm_seed_remove(struct reconciler *rc, const struct cfs_res *vm)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.iso", rc->conf->seed_dir, vm->uuid);
    unlink(path);
}
