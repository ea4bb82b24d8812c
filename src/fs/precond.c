/* precond.c: state-dependent preconditions (see precond.h).  One function
 * per rule, listed in three tables (attribute writes, links, deletes) so
 * the rules are easy to find; the network kinds' rules are precond_net.c's. */
#include "precond.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "offering.h"
#include "precond_affinity.h"
#include "precond_net.h"
#include "precond_vmsnap.h"
#include "precond_secgroup.h"
#include "status_keys.h"
#include "value.h"

static bool is_active(const char *state)
{
    static const char *const active[] = {"running", "paused", "starting", "stopping",
                                         "pausing", "resuming", "rebooting"};
    for (size_t i = 0; i < sizeof(active) / sizeof(active[0]); i++)
        if (!strcmp(state, active[i]))
            return true;
    return false;
}

/* vm.host: a running or paused VM moves live (vm_migrate.c), a stopped one
 * offline; one between states (starting, migrating, ...) waits. */
static int vm_host(struct cfs_store *st, const struct cfs_res *r, const char *value,
                   struct cfs_err *err)
{
    char *state = store_status_text(st, r->id, "state");
    char *placed = store_status_text(st, r->id, "host");
    int rc = 0;
    bool settled = !strcmp(state, "running") || !strcmp(state, "paused");
    if (placed[0] && strcmp(value, placed) && (is_active(state) || !strcmp(state, "migrating")) &&
        !settled)
        rc = cfs_err_set(err, EBUSY, "vm %s is %s on host %s; stop it before moving it to %s",
                         r->name, state, placed, value);
    free(state);
    free(placed);
    return rc;
}

/* Growing a running VM takes what its host has free (status free-cpus and
 * free-memory, the capacity the scheduler places by): ENOSPC when the host
 * has not enough, as a start would fail on a full cluster. */
static int grow_fits(struct cfs_store *st, const struct cfs_res *vm, int more_cpus,
                     long long more_mem, const char *offering, struct cfs_err *err)
{
    const struct cfs_kind *kh = layout_kind(store_layout(st), "host");
    char *placed = store_status_text(st, vm->id, "host");
    struct cfs_res host;
    struct cfs_err ignore;
    int rc = 0;
    if ((more_cpus > 0 || more_mem > 0) && kh && placed[0] &&
        store_res_find(st, vm->parent, kh, placed, &host, &ignore) == 0) {
        char *fc = store_status_text(st, host.id, "free-cpus");
        char *fm = store_status_text(st, host.id, "free-memory");
        long long free_mem = 0;
        int free_cpus = fc[0] ? atoi(fc) : 0;
        if (fm[0] == '-' || value_parse_size(fm, &free_mem) < 0)
            free_mem = 0;
        if (fc[0] && fm[0] && (more_cpus > free_cpus || more_mem > free_mem))
            rc = cfs_err_set(err, ENOSPC,
                             "host %s has %d vCPUs and %lld MiB free; growing vm %s to %s "
                             "needs %d more vCPUs and %lld MiB more", host.name,
                             free_cpus < 0 ? 0 : free_cpus, free_mem >> 20, vm->name, offering,
                             more_cpus > 0 ? more_cpus : 0, (more_mem > 0 ? more_mem : 0) >> 20);
        free(fc);
        free(fm);
    }
    free(placed);
    return rc;
}

/* vm.offering: a running VM only grows, within the maxima fixed at start
 * (the reference platforms' "hot upgrade"); anything else waits for a stop. */
static int vm_offering(struct cfs_store *st, const struct cfs_res *r, const char *value,
                       struct cfs_err *err)
{
    char *state = store_status_text(st, r->id, "state");
    int rc = 0;
    if (is_active(state)) {
        struct cfs_offering off;
        struct cfs_err ignore = {0};
        char *cur_cpus = store_status_text(st, r->id, "cpus");
        char *cur_mem = store_status_text(st, r->id, "memory");
        char *max_cpus = store_status_text(st, r->id, CFS_ST_MAX_VCPUS);
        char *max_mem = store_status_text(st, r->id, CFS_ST_MAX_MEMORY);
        long long want_mem = 0, have_mem = 0, top_mem = 0;
        /* An unknown offering is the reference check's to refuse. */
        if (store_offering_get(st, value, &off, &ignore) == 0) {
            want_mem = off.memory;
            value_parse_size(cur_mem, &have_mem);
            value_parse_size(max_mem, &top_mem);
            int want_cpus = off.cpus, have_cpus = atoi(cur_cpus), top_cpus = atoi(max_cpus);
            if ((have_cpus && want_cpus < have_cpus) || (have_mem && want_mem < have_mem))
                rc = cfs_err_set(err, EBUSY,
                                 "vm %s is %s: a running VM can only grow; stop it to shrink",
                                 r->name, state);
            else if ((top_cpus && want_cpus > top_cpus) || (top_mem && want_mem > top_mem))
                rc = cfs_err_set(err, EBUSY,
                                 "vm %s is %s: %s exceeds the live maximum (%d vCPUs, %s); "
                                 "stop it first", r->name, state, value, top_cpus, max_mem);
            else
                rc = grow_fits(st, r, want_cpus - have_cpus, have_mem ? want_mem - have_mem : 0,
                               value, err);
        }
        free(cur_cpus);
        free(cur_mem);
        free(max_cpus);
        free(max_mem);
    }
    free(state);
    return rc;
}

/* First VM placed on host h that is active (or any, when any_state). */
static int placed_vm(struct cfs_store *st, const struct cfs_res *h, bool any_state, char *name,
                     size_t len, struct cfs_err *err)
{
    const struct cfs_kind *kvm = layout_kind(store_layout(st), "vm");
    struct cfs_res *vms = NULL;
    size_t n = 0;
    int found = 0;
    if (!kvm)
        return 0;
    if (store_res_by_status(st, kvm, h->parent, "host", h->name, &vms, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n && !found; i++) {
        char *state = store_status_text(st, vms[i].id, "state");
        if (any_state || is_active(state)) {
            snprintf(name, len, "%s", vms[i].deleted ? "(being deleted)" : vms[i].name);
            found = 1;
        }
        free(state);
    }
    free(vms);
    return found;
}

/* host.state: maintenance is always taken; the reconciler evacuates the
 * host (host_maintenance.c) and stops, with the reason, what cannot move. */

/* ---- storage ---- */

static long long size_of(const char *s)
{
    long long v = 0;
    return s && value_parse_size(s, &v) == 0 ? v : 0;
}

/* A disk made from image must hold it: its virtual size and min-disk. */
static int fits_image_as(struct cfs_store *st, const char *image, long long size,
                         const char *what, bool iso_ok, struct cfs_err *err)
{
    const struct cfs_kind *ki = layout_kind(store_layout(st), "image");
    struct cfs_res img;
    struct cfs_err ignore;
    int rc = 0;
    if (!ki || !image[0] || store_res_find(st, 0, ki, image, &img, &ignore) < 0)
        return 0;   /* the store reports unknown references */
    char *vsize = store_status_text(st, img.id, "virtual-size");
    char *min = store_attr_text(st, img.id, "min-disk");
    char *format = store_status_text(st, img.id, "format");
    char buf[32];
    if (!strcmp(format, "iso")) {
        if (!iso_ok)
            rc = cfs_err_set(err, EINVAL, "image %s is an ISO: it cannot be a disk's base", image);
    } else if (atoll(vsize) > size) {
        value_format_size(atoll(vsize), buf, sizeof(buf));
        rc = cfs_err_set(err, EINVAL, "%s is smaller than image %s (virtual size %s)", what, image,
                         buf);
    } else if (size_of(min) > size) {
        rc = cfs_err_set(err, EINVAL, "%s is smaller than image %s's min-disk %s", what, image, min);
    }
    free(vsize);
    free(min);
    free(format);
    return rc;
}

static int fits_image(struct cfs_store *st, const char *image, long long size, const char *what,
                      struct cfs_err *err)
{
    return fits_image_as(st, image, size, what, false, err);
}

/* The snapshot a volume's `snapshot` names (value, or the stored one when
 * NULL), when it names one: 1 and *snap, 0 when empty, -1 when there is
 * no such snapshot. */
static int volume_snapshot_of(struct cfs_store *st, const struct cfs_res *vol, const char *value,
                              struct cfs_res *snap, struct cfs_err *err)
{
    const struct cfs_attr_def *a = layout_attr(vol->kind, "snapshot");
    char *stored = value ? NULL : store_attr_text(st, vol->id, "snapshot");
    const char *v = value ? value : stored;
    int rc = 0;
    if (a && v[0])
        rc = store_ref_resolve(st, vol, a, v, snap, err) < 0 ? -1 : 1;
    free(stored);
    return rc;
}

/* A volume made from a snapshot is at least the snapshot's size. */
static int fits_snapshot(struct cfs_store *st, const struct cfs_res *vol, const char *value,
                         long long size, struct cfs_err *err)
{
    struct cfs_res snap;
    int found = volume_snapshot_of(st, vol, value, &snap, err);
    if (found <= 0)
        return found;
    char *ssize = store_status_text(st, snap.id, "size");
    int rc = 0;
    if (size_of(ssize) > size)
        rc = cfs_err_set(err, EINVAL, "volume %s: size is below snapshot %s's size %s; write "
                         "size first", vol->name, snap.name, ssize);
    free(ssize);
    return rc;
}

/* volume.size: grows only; holds its image or snapshot. */
static int volume_size(struct cfs_store *st, const struct cfs_res *r, const char *value,
                       struct cfs_err *err)
{
    char *cur = store_attr_text(st, r->id, "size");
    char *image = store_attr_text(st, r->id, "image");
    int rc = 0;
    if (size_of(value) < size_of(cur))
        rc = cfs_err_set(err, EINVAL, "volume %s: size can only grow (it is %s; shrinking "
                         "would destroy data)", r->name, cur);
    else if (fits_image(st, image, size_of(value), "size", err) < 0)
        rc = -1;
    else
        rc = fits_snapshot(st, r, NULL, size_of(value), err);
    free(cur);
    free(image);
    return rc;
}

/* volume.pool/image: until its first attachment a volume holds nothing of
 * value and is remade; after that they are fixed. */
static int volume_made(struct cfs_store *st, const struct cfs_res *r, const char *value,
                       struct cfs_err *err)
{
    char *used = store_status_text(st, r->id, CFS_ST_USED);
    char *pool = store_status_text(st, r->id, "pool");
    int rc = 0;
    (void)value;
    if (used[0])
        rc = cfs_err_set(err, EBUSY, "volume %s has been attached and holds data in pool %s; "
                         "make a new volume", r->name, pool);
    free(used);
    free(pool);
    return rc;
}

static int volume_image(struct cfs_store *st, const struct cfs_res *r, const char *value,
                        struct cfs_err *err)
{
    if (volume_made(st, r, value, err) < 0)
        return -1;
    char *snap = store_attr_text(st, r->id, "snapshot");
    int both = value[0] && snap[0];
    if (both)
        cfs_err_set(err, EINVAL, "volume %s is made from snapshot %s: a volume comes from an "
                    "image or a snapshot, not both", r->name, snap);
    free(snap);
    if (both)
        return -1;
    char *size = store_attr_text(st, r->id, "size");
    int rc = fits_image(st, value, size_of(size), "size", err);
    free(size);
    return rc;
}

/* vm.image: fixed once the root volume exists; vm.root-size: holds it. */
static int vm_image(struct cfs_store *st, const struct cfs_res *r, const char *value,
                    struct cfs_err *err)
{
    char *root = store_status_text(st, r->id, "root-volume");
    char *size = store_attr_text(st, r->id, "root-size");
    int rc = 0;
    if (root[0])
        rc = cfs_err_set(err, EBUSY, "vm %s already has root volume %s; delete the VM to "
                         "change its image", r->name, root);
    else
        rc = fits_image_as(st, value, size_of(size), "root-size", true, err);
    free(root);
    free(size);
    return rc;
}

/* vm.iso: an image imported as an ISO (its format read from its bytes). */
static int vm_iso(struct cfs_store *st, const struct cfs_res *r, const char *value,
                  struct cfs_err *err)
{
    const struct cfs_kind *ki = layout_kind(store_layout(st), "image");
    struct cfs_res img;
    int rc = 0;
    (void)r;
    if (!value[0] || !ki || store_res_find(st, 0, ki, value, &img, err) < 0)
        return value[0] && ki ? -1 : 0;
    char *format = store_status_text(st, img.id, "format");
    char *state = store_status_text(st, img.id, "state");
    if (strcmp(state, "available"))
        rc = cfs_err_set(err, EBUSY, "image %s is %s, not available yet", value,
                         state[0] ? state : "not imported");
    else if (strcmp(format, "iso"))
        rc = cfs_err_set(err, EINVAL, "image %s is %s, not an ISO", value, format);
    free(format);
    free(state);
    return rc;
}

static int vm_root_size(struct cfs_store *st, const struct cfs_res *r, const char *value,
                        struct cfs_err *err)
{
    char *root = store_status_text(st, r->id, "root-volume");
    char *cur = store_attr_text(st, r->id, "root-size");
    char *image = store_attr_text(st, r->id, "image");
    int rc = 0;
    if (root[0] && size_of(value) < size_of(cur))
        rc = cfs_err_set(err, EINVAL, "vm %s: root-size can only grow (it is %s)", r->name, cur);
    else
        rc = fits_image_as(st, image, size_of(value), "root-size", true, err);
    free(root);
    free(cur);
    free(image);
    return rc;
}

/* image.source and image.vm: an imported image keeps its content (volumes
 * share it); it comes from a file or from a VM, not both. */
static int image_content(struct cfs_store *st, const struct cfs_res *r, const char *value,
                         const char *other, struct cfs_err *err)
{
    char *state = store_status_text(st, r->id, "state");
    char *set = store_attr_text(st, r->id, other);
    int rc = 0;
    if (!strcmp(state, "available") || !strcmp(state, "importing"))
        rc = cfs_err_set(err, EBUSY, "image %s is %s; register new content as a new image",
                         r->name, state);
    else if (value[0] && set[0])
        rc = cfs_err_set(err, EINVAL, "image %s already has %s %s: an image comes from a file "
                         "or from a VM, not both", r->name, other, set);
    free(state);
    free(set);
    return rc;
}

static int image_source(struct cfs_store *st, const struct cfs_res *r, const char *value,
                        struct cfs_err *err)
{
    return image_content(st, r, value, "vm", err);
}

/* image.vm: a stopped VM with a root disk (it is copied whole). */
static int image_vm(struct cfs_store *st, const struct cfs_res *r, const char *value,
                    struct cfs_err *err)
{
    struct cfs_res vm;
    if (image_content(st, r, value, "source", err) < 0)
        return -1;
    if (!value[0])
        return 0;
    if (store_ref_resolve(st, r, layout_attr(r->kind, "vm"), value, &vm, err) < 0)
        return -1;
    char *state = store_status_text(st, vm.id, "state");
    char *want = store_attr_text(st, vm.id, "state");
    char *root = store_status_text(st, vm.id, "root-volume");
    int rc = 0;
    if (strcmp(state, "stopped") || strcmp(want, "stopped"))
        rc = cfs_err_set(err, EBUSY, "vm %s is %s: an image is made from a stopped VM; stop it "
                         "first", vm.name, strcmp(state, "stopped") ? (state[0] ? state : "new")
                                                                     : "to run");
    else if (!root[0])
        rc = cfs_err_set(err, EINVAL, "vm %s has no root disk to make an image from", vm.name);
    free(state);
    free(want);
    free(root);
    return rc;
}

/* vm.from (a clone): this VM new (no root disk, not a clone yet), the
 * source another VM of the cluster, stopped, with a root disk. */
static int vm_from(struct cfs_store *st, const struct cfs_res *r, const char *value,
                   struct cfs_err *err)
{
    struct cfs_res src;
    char *have = store_attr_text(st, r->id, "from");
    char *root = store_status_text(st, r->id, "root-volume");
    char *state = NULL, *want = NULL, *sroot = NULL;
    int rc = 0;
    if (have[0] && strcmp(have, value))
        rc = cfs_err_set(err, EBUSY, "vm %s is already a clone of vm %s; make a new VM to clone "
                         "another", r->name, have);
    else if (!value[0] || !strcmp(have, value))
        rc = 0;     /* written again (a sync tool): nothing changes */
    else if (root[0])
        rc = cfs_err_set(err, EBUSY, "vm %s already has root volume %s; only a new VM is made a "
                         "clone", r->name, root);
    else if (!strcmp(value, r->name))
        rc = cfs_err_set(err, EINVAL, "vm %s cannot be a clone of itself", r->name);
    else if (store_res_find(st, r->parent, r->kind, value, &src, err) < 0)
        rc = cfs_err_set(err, ENOENT, "from: vm '%s' does not exist in this cluster", value);
    else {
        state = store_status_text(st, src.id, "state");
        want = store_attr_text(st, src.id, "state");
        sroot = store_status_text(st, src.id, "root-volume");
        if (strcmp(state, "stopped") || strcmp(want, "stopped"))
            rc = cfs_err_set(err, EBUSY, "vm %s is %s: a clone is made from a stopped VM; stop it "
                             "first", src.name, strcmp(state, "stopped")
                                                    ? (state[0] ? state : "new") : "to run");
        else if (!sroot[0])
            rc = cfs_err_set(err, EINVAL, "vm %s has no root disk to clone (it never started)",
                             src.name);
    }
    free(have);
    free(root);
    free(state);
    free(want);
    free(sroot);
    return rc;
}

/* A pool holding volumes keeps its type and location. */
static int pool_location(struct cfs_store *st, const struct cfs_res *r, const char *value,
                         struct cfs_err *err)
{
    const struct cfs_kind *kv = layout_kind(store_layout(st), "volume");
    struct cfs_res *vols = NULL;
    size_t n = 0;
    int rc = 0;
    (void)value;
    if (!kv || store_res_by_status(st, kv, r->parent, "pool", r->name, &vols, &n, err) < 0)
        return kv ? -1 : 0;
    if (n)
        rc = cfs_err_set(err, EBUSY, "pool %s holds volume %s; its location cannot change",
                         r->name, vols[0].name);
    free(vols);
    return rc;
}

/* Ceph names reach qemu's option syntax: keep them to plain characters. */
static int ceph_name(struct cfs_store *st, const struct cfs_res *r, const char *value,
                     struct cfs_err *err)
{
    if (pool_location(st, r, value, err) < 0)
        return -1;
    for (const char *p = value; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return cfs_err_set(err, EINVAL, "pool %s: '%s' may hold only letters, digits, "
                               "'.', '_' and '-'", r->name, value);
    return 0;
}

/* One base64 character's value, or -1. */
static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* One authorized-keys line without options: TYPE BASE64 [COMMENT], the
 * blob's own first field naming TYPE (as OpenSSH writes keys).  NULL when
 * it is one, else why not. */
static const char *ssh_key_problem(const char *line, size_t n)
{
    static const char *const types[] = {
        "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-dss"};
    const char *sp = memchr(line, ' ', n);
    if (!sp)
        return "is not 'TYPE KEY [COMMENT]'";
    size_t tlen = (size_t)(sp - line);
    bool known = false;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strlen(types[i]) == tlen && !memcmp(types[i], line, tlen))
            known = true;
    if (!known)
        return "does not start with a key type (ssh-ed25519, ssh-rsa, ecdsa-sha2-*; "
               "options are not accepted)";
    const char *k = sp + 1, *end = line + n;
    const char *kend = memchr(k, ' ', (size_t)(end - k));
    if (!kend)
        kend = end;
    /* Decode the first bytes: a 4-byte length, then the type again. */
    unsigned char dec[64];
    size_t nd = 0, nk = (size_t)(kend - k);
    unsigned acc = 0;
    int bits = 0;
    if (nk < 16 || nk > 16384)
        return "has a key of implausible length";
    for (size_t i = 0; i < nk; i++) {
        if (k[i] == '=') {
            if (i + 2 < nk)
                return "has '=' inside its key";
            continue;
        }
        int v = b64_value(k[i]);
        if (v < 0)
            return "has a key that is not base64";
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (nd < sizeof(dec))
                dec[nd++] = (unsigned char)(acc >> bits);
        }
    }
    size_t blen = nd >= 4 ? ((size_t)dec[0] << 24 | (size_t)dec[1] << 16 |
                             (size_t)dec[2] << 8 | dec[3]) : 0;
    if (blen != tlen || nd < 4 + tlen || memcmp(dec + 4, line, tlen))
        return "has a key whose contents do not match its type";
    for (const char *c = kend; c < end; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return "has a control character in its comment";
    return NULL;
}

/* vm.password on a running VM is set through its guest agent at once:
 * without an answering agent the write would do nothing until the next
 * boot, which the reference platforms refuse (reset needs the agent). */
static int vm_password(struct cfs_store *st, const struct cfs_res *r, const char *value,
                       struct cfs_err *err)
{
    (void)value;
    char *state = store_status_text(st, r->id, "state");
    char *agent = store_status_text(st, r->id, "agent");
    int rc = 0;
    if (is_active(state) && strcmp(agent, "connected"))
        rc = cfs_err_set(err, EBUSY,
                         "vm %s is %s and its guest agent does not answer: stop it to change "
                         "the password (cloud-init sets it at the next start)", r->name, state);
    free(state);
    free(agent);
    return rc;
}

/* vm.ctl reinstall: only a stopped VM with an image has a root disk to
 * make again (the seeds: reinstall needs the VM stopped). */
static int vm_ctl(struct cfs_store *st, const struct cfs_res *r, const char *value,
                  struct cfs_err *err)
{
    if (strcmp(value, "reinstall"))
        return 0;
    char *state = store_status_text(st, r->id, "state");
    char *want = NULL, *image = NULL;
    struct cfs_err ignore;
    int rc = 0;
    store_attr_get(st, r->id, "state", &want, NULL, &ignore);
    store_attr_get(st, r->id, "image", &image, NULL, &ignore);
    if (is_active(state) || (want && strcmp(want, "stopped")))
        rc = cfs_err_set(err, EBUSY, "vm %s is %s: stop it first to reinstall it", r->name,
                         is_active(state) ? state : "to run");
    else if (!image || !image[0])
        rc = cfs_err_set(err, EINVAL, "vm %s has no image to reinstall from", r->name);
    free(state);
    free(want);
    free(image);
    return rc;
}

/* vm.ssh-keys: one OpenSSH public key per line, nothing else. */
static int vm_ssh_keys(struct cfs_store *st, const struct cfs_res *r, const char *value,
                       struct cfs_err *err)
{
    (void)st;
    (void)r;
    int lineno = 0;
    for (const char *line = value; *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        lineno++;
        while (n > 0 && line[n - 1] == ' ')
            n--;
        if (n > 0) {
            const char *why = ssh_key_problem(line, n);
            if (why)
                return cfs_err_set(err, EINVAL, "ssh-keys: line %d %s", lineno, why);
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    return 0;
}

/* ---- snapshots ---- */

/* The VM using volume vol (its root disk's VM, or the VM it is attached
 * to) when that VM runs or may start: its name in vm; 1 then, else 0. */
static int volume_in_use(struct cfs_store *st, const struct cfs_res *vol, char *vm, size_t len)
{
    const struct cfs_kind *kvm = layout_kind(store_layout(st), "vm");
    static const char *const holders[] = {"attached-to", "root-of"};
    int busy = 0;
    for (size_t i = 0; kvm && !busy && i < 2; i++) {
        char *name = store_status_text(st, vol->id, holders[i]);
        struct cfs_res r;
        struct cfs_err ignore;
        if (name[0] && store_res_find(st, vol->parent, kvm, name, &r, &ignore) == 0) {
            char *state = store_status_text(st, r.id, "state");
            char *want = store_attr_text(st, r.id, "state");
            busy = is_active(state) || strcmp(want, "stopped");
            if (busy)
                snprintf(vm, len, "%s is %s", name, is_active(state) ? state : "to run");
            free(state);
            free(want);
        }
        free(name);
    }
    return busy;
}

/* The type of the pool a volume was made in ("" before it is made). */
static char *volume_pool_type(struct cfs_store *st, const struct cfs_res *vol)
{
    const struct cfs_kind *kp = layout_kind(store_layout(st), "pool");
    char *pool = store_status_text(st, vol->id, "pool");
    struct cfs_res r;
    struct cfs_err ignore;
    char *type = NULL;
    if (kp && pool[0] && store_res_find(st, vol->parent, kp, pool, &r, &ignore) == 0)
        type = store_attr_text(st, r.id, "type");
    free(pool);
    return type ? type : strdup("");
}

/* mkdir volumes/V/snapshots/S: at most conf's volume-snapshots; on a dir
 * pool not while a VM has the volume open (qemu-img cannot touch an image
 * in use; RBD snapshots a running disk, crash-consistent). */
static int snapshot_create(struct cfs_store *st, const struct cfs_conf *conf,
                           const struct cfs_res *vol, const struct cfs_kind *k,
                           struct cfs_err *err)
{
    int64_t n = 0;
    char vm[CFS_NAME_MAX + 32];
    if (store_res_count(st, vol->id, k, &n, err) < 0)
        return -1;
    if (n >= conf->volume_snapshots)
        return cfs_err_set(err, EDQUOT, "volume %s already holds %lld snapshots, the most "
                           "volume-snapshots (cloudfs.conf) allows; delete one first", vol->name,
                           (long long)n);
    char *type = volume_pool_type(st, vol);
    int rc = 0;
    if (!strcmp(type, "dir") && volume_in_use(st, vol, vm, sizeof(vm)))
        rc = cfs_err_set(err, EBUSY, "volume %s is in use by vm %s: a dir pool's qcow2 image "
                         "in use cannot be snapshotted; stop the VM or detach the volume first",
                         vol->name, vm);
    free(type);
    return rc;
}

/* volume.snapshot: as image, changeable until the volume was attached (an
 * unused volume is made again); not with an image; the snapshot ready and
 * within the size; on a dir pool its volume not in use (qemu-img reads
 * the snapshot from the file). */
static int volume_snapshot(struct cfs_store *st, const struct cfs_res *r, const char *value,
                           struct cfs_err *err)
{
    struct cfs_res snap, src;
    char vm[CFS_NAME_MAX + 32];
    if (volume_made(st, r, value, err) < 0)
        return -1;
    char *image = store_attr_text(st, r->id, "image");
    char *size = store_attr_text(st, r->id, "size");
    char *state = NULL, *type = NULL;
    int rc = 0;
    if (value[0] && image[0])
        rc = cfs_err_set(err, EINVAL, "volume %s is made from image %s: a volume comes from an "
                         "image or a snapshot, not both", r->name, image);
    else if (volume_snapshot_of(st, r, value, &snap, err) <= 0)
        rc = value[0] ? -1 : 0;
    else if (strcmp((state = store_status_text(st, snap.id, "state")), "ready"))
        rc = cfs_err_set(err, EBUSY, "snapshot %s is %s, not ready", value,
                         state[0] ? state : "not taken yet");
    else if (fits_snapshot(st, r, value, size_of(size), err) < 0 ||
             store_res_get(st, snap.parent, &src, err) < 0)
        rc = -1;
    else if (!strcmp((type = volume_pool_type(st, &src)), "dir") &&
             volume_in_use(st, &src, vm, sizeof(vm)))
        rc = cfs_err_set(err, EBUSY, "volume %s is in use by vm %s: a dir pool's snapshot is "
                         "read from the qcow2 image, which must not be in use; stop the VM or "
                         "detach the volume first", src.name, vm);
    free(image);
    free(size);
    free(state);
    free(type);
    return rc;
}

/* rmdir of a snapshot: qemu-img cannot delete one from an image in use. */
static int snapshot_delete(struct cfs_store *st, const struct cfs_res *r, struct cfs_err *err)
{
    struct cfs_res vol;
    char vm[CFS_NAME_MAX + 32];
    if (store_res_get(st, r->parent, &vol, err) < 0)
        return -1;
    char *type = volume_pool_type(st, &vol);
    int rc = 0;
    if (!strcmp(type, "dir") && volume_in_use(st, &vol, vm, sizeof(vm)))
        rc = cfs_err_set(err, EBUSY, "volume %s is in use by vm %s: a dir pool's qcow2 image "
                         "in use cannot lose a snapshot; stop the VM or detach the volume first",
                         vol.name, vm);
    free(type);
    return rc;
}

/* snapshot.ctl = revert: the snapshot is ready, and the volume detached
 * or its VM stopped (the seeds' rollback precondition). */
static int snapshot_ctl(struct cfs_store *st, const struct cfs_res *r, const char *value,
                        struct cfs_err *err)
{
    struct cfs_res vol;
    char vm[CFS_NAME_MAX + 32];
    int rc = 0;
    if (strcmp(value, "revert"))
        return 0;
    if (store_res_get(st, r->parent, &vol, err) < 0)
        return -1;
    char *state = store_status_text(st, r->id, "state");
    if (strcmp(state, "ready"))
        rc = cfs_err_set(err, EBUSY, "snapshot %s is %s; it can be reverted to once ready",
                         r->name, state[0] ? state : "not made yet");
    else if (volume_in_use(st, &vol, vm, sizeof(vm)))
        rc = cfs_err_set(err, EBUSY, "volume %s is in use by vm %s; stop the VM or detach the "
                         "volume before reverting it", vol.name, vm);
    free(state);
    return rc;
}

static const struct {
    const char *kind, *attr;
    int (*check)(struct cfs_store *, const struct cfs_res *, const char *, struct cfs_err *);
} rules[] = {
    {"vm", "ssh-keys", vm_ssh_keys},
    {"vm", "password", vm_password},
    {"vm", "ctl", vm_ctl},
    {"vm", "iso", vm_iso},
    {"vm", "host", vm_host},
    {"vm", "offering", vm_offering},
    {"vm", "image", vm_image},
    {"vm", "root-size", vm_root_size},
    {"vm", "from", vm_from},
    {"volume", "size", volume_size},
    {"volume", "image", volume_image},
    {"volume", "snapshot", volume_snapshot},
    {"image", "source", image_source},
    {"image", "vm", image_vm},
    {"pool", "type", pool_location},
    {"pool", "path", pool_location},
    {"pool", "ceph-conf", pool_location},
    {"pool", "rbd-pool", ceph_name},
    {"pool", "ceph-user", ceph_name},
    {"snapshot", "ctl", snapshot_ctl},
    {"sgrule", "ports", sg_rule_ports},
    {"sgrule", "protocol", sg_rule_protocol},
    {"sgrule", "remote", sg_rule_remote},
    {"sgrule", "priority", sg_rule_priority},
    {"nic", "security-groups", sg_nic_groups},
};

int precond_attr(struct cfs_store *st, const struct cfs_res *r, const struct cfs_attr_def *a,
                 const char *value, struct cfs_err *err)
{
    if (affinity_precond_attr(st, r, a, value, err) < 0 ||
        vmsnap_precond_attr(st, r, a->name, value, err) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        if (!strcmp(rules[i].kind, r->kind->name) && !strcmp(rules[i].attr, a->name))
            return rules[i].check(st, r, value, err);
    return net_precond_attr(st, r, a, value, err);
}

static int nic_create(struct cfs_store *st, const struct cfs_conf *conf, const struct cfs_res *parent,
                      const struct cfs_kind *k, struct cfs_err *err)
{
    (void)conf;
    if (vmsnap_vm_fixed(st, parent, "a new NIC", err) < 0)
        return -1;
    return net_precond_create(st, parent, k, err);
}

/* Create rules, by the new resource's kind and its parent's kind. */
static const struct {
    const char *parent, *kind;
    int (*check)(struct cfs_store *, const struct cfs_conf *, const struct cfs_res *,
                 const struct cfs_kind *, struct cfs_err *);
} create_rules[] = {
    {"volume", "snapshot", snapshot_create},
    {"vm", "nic", nic_create},
    {"vm", "vm-snapshot", vmsnap_precond_create},
};

int precond_create(struct cfs_store *st, const struct cfs_conf *conf, const struct cfs_res *parent,
                   const struct cfs_kind *k, struct cfs_err *err)
{
    if (!parent)
        return 0;
    for (size_t i = 0; i < sizeof(create_rules) / sizeof(create_rules[0]); i++)
        if (!strcmp(create_rules[i].kind, k->name) &&
            !strcmp(create_rules[i].parent, parent->kind->name))
            return create_rules[i].check(st, conf, parent, k, err);
    return 0;
}

static int volume_delete(struct cfs_store *st, const struct cfs_res *r, struct cfs_err *err)
{
    char *root = store_status_text(st, r->id, CFS_ST_ROOT_OF);
    char *holder = store_status_text(st, r->id, "attached-to");
    char *root_name = store_status_text(st, r->id, "root-of");
    struct cfs_res vm;
    struct cfs_err ignore;
    int rc = 0;
    if (root[0] && store_res_by_uuid(st, root, &vm, &ignore) == 0 && !vm.deleted)
        rc = cfs_err_set(err, EBUSY, "volume %s is the root disk of vm %s; it goes with the VM",
                         r->name, vm.name);
    else if (holder[0])
        rc = cfs_err_set(err, EBUSY, "volume %s is attached to vm %s; detach it first", r->name,
                         holder);
    free(root);
    free(holder);
    free(root_name);
    return rc;
}

static int pool_delete(struct cfs_store *st, const struct cfs_res *r, struct cfs_err *err)
{
    return pool_location(st, r, "", err);
}

/* A volume that is some VM's root disk goes with that VM only. */
static int volume_link(struct cfs_store *st, const struct cfs_res *target, struct cfs_err *err)
{
    char *root = store_status_text(st, target->id, "root-of");
    int rc = 0;
    if (root[0])
        rc = cfs_err_set(err, EBUSY, "volume %s is the root disk of vm %s", target->name, root);
    free(root);
    return rc;
}

/* Link rules, by the kind of the link's target. */
static const struct {
    const char *kind;
    int (*check)(struct cfs_store *, const struct cfs_res *, struct cfs_err *);
} link_rules[] = {
    {"volume", volume_link},
};

int precond_link(struct cfs_store *st, const struct cfs_res *r, const struct cfs_link_def *l,
                 const struct cfs_res *target, struct cfs_err *err)
{
    if (vmsnap_vm_fixed(st, r, "attaching a volume", err) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(link_rules) / sizeof(link_rules[0]); i++)
        if (!strcmp(link_rules[i].kind, l->kind_name))
            return link_rules[i].check(st, target, err);
    return 0;
}

/* A host that still holds a VM (in any state) stays. */
static int host_delete(struct cfs_store *st, const struct cfs_res *r, struct cfs_err *err)
{
    char vm[CFS_NAME_MAX + 32];
    int found = placed_vm(st, r, true, vm, sizeof(vm), err);
    if (found < 0)
        return -1;
    if (found)
        return cfs_err_set(err, EBUSY, "host %s still holds vm %s", r->name, vm);
    return 0;
}

/* A NIC removed from a VM that has whole-VM snapshots (precond_vmsnap.c). */
static int nic_delete(struct cfs_store *st, const struct cfs_res *r, struct cfs_err *err)
{
    struct cfs_res vm;
    if (store_res_get(st, r->parent, &vm, err) < 0)
        return -1;
    return vmsnap_vm_fixed(st, &vm, "removing a NIC", err);
}

/* Delete rules, by kind. */
static const struct {
    const char *kind;
    int (*check)(struct cfs_store *, const struct cfs_res *, struct cfs_err *);
} delete_rules[] = {
    {"volume", volume_delete},
    {"pool", pool_delete},
    {"subnet", net_precond_delete},
    {"snapshot", snapshot_delete},
    {"host", host_delete},
    {"vm-snapshot", vmsnap_precond_delete},
    {"nic", nic_delete},
    {"secgroup", sg_delete},
};

int precond_delete(struct cfs_store *st, const struct cfs_res *r, struct cfs_err *err)
{
    if (r->kind->system)
        return cfs_err_set(err, EPERM, "%s/ is written by the reconciler only", r->kind->collection);
    for (size_t i = 0; i < sizeof(delete_rules) / sizeof(delete_rules[0]); i++)
        if (!strcmp(delete_rules[i].kind, r->kind->name))
            return delete_rules[i].check(st, r, err);
    return 0;
}

int precond_unlink(struct cfs_store *st, const struct cfs_res *r, const struct cfs_link_def *l,
                   struct cfs_err *err)
{
    (void)l;
    return vmsnap_vm_fixed(st, r, "detaching a volume", err);
}

/* Rename rules, by kind: references held as text the store cannot follow. */
static const struct {
    const char *kind;
    int (*check)(struct cfs_store *, const struct cfs_res *, struct cfs_err *);
} rename_rules[] = {
    {"secgroup", sg_delete},
};

int precond_rename(struct cfs_store *st, const struct cfs_res *r, struct cfs_err *err)
{
    for (size_t i = 0; i < sizeof(rename_rules) / sizeof(rename_rules[0]); i++)
        if (!strcmp(rename_rules[i].kind, r->kind->name))
            return rename_rules[i].check(st, r, err);
    return 0;
}
