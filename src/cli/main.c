/* main.c: the cloudfs command line. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "default_cloud.h"
#include "conf.h"
#include "fs_ops.h"
#include "layout.h"
#include "layout_use.h"
#include "manpage.h"
#include "reconcile.h"
#include "store.h"
#include "version.h"

static void usage(FILE *out)
{
    fputs("usage: cloudfs [-c FILE] COMMAND [ARGS]\n"
          "\n"
          "commands:\n"
          "  init                     create the store and the embedded default cloud\n"
          "  mount [-f] [-d] DIR      mount the cloud at DIR (-f: stay in the foreground)\n"
          "  reconcile [-f]           run the reconciler daemon (-f: stay in the foreground)\n"
          "  check [-n] [-t MIN]      verify the store (-n: only) and compare it with the hosts\n"
          "  layout-man               print the tree reference of cloudfs(7) from the layout\n"
          "  layout-use               print who acts on each layout attribute\n"
          "  version                  print the version\n"
          "  help                     print this help\n"
          "\n"
          "options:\n"
          "  -c FILE                  configuration (default " CFS_DEFAULT_CONF ")\n"
          "  --version                print the version\n"
          "\n"
          "Unmount with: fusermount3 -u DIR.  See cloudfs(1), cloudfs.conf(5), cloudfs(7).\n",
          out);
}

/* Open the store, creating the default cloud when it is new (or always, for
 * "init"). */
static int open_store(const struct cfs_conf *conf, const struct cfs_layout *layout, bool force_init,
                      struct cfs_store **st, struct cfs_err *err)
{
    if (store_open(conf->store, layout, conf->sync_full, st, err) < 0)
        return -1;
    if ((force_init || !default_cloud_seeded(*st)) && default_cloud_seed(*st, conf, err) < 0) {
        store_close(*st);
        *st = NULL;
        return -1;
    }
    return 0;
}

static int cmd_mount(struct cfs_conf *conf, struct cfs_layout *layout, int argc, char **argv)
{
    bool foreground = false, debug = false;
    const char *mnt = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-f"))
            foreground = true;
        else if (!strcmp(argv[i], "-d"))
            debug = foreground = true;
        else if (!mnt && argv[i][0] != '-')
            mnt = argv[i];
        else {
            fprintf(stderr, "cloudfs mount: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!mnt) {
        fputs("cloudfs mount: missing mount point\n", stderr);
        return 2;
    }
    struct cfs_store *st = NULL;
    struct cfs_err err;
    if (open_store(conf, layout, false, &st, &err) < 0) {
        fprintf(stderr, "cloudfs: %s\n", err.msg);
        return 1;
    }
    store_close(st);    /* reopened inside the FUSE process after it forks */
    return fs_mount(conf, layout, mnt, foreground, debug) ? 1 : 0;
}

/* cloudfs check: 0 clean, 1 differences, 2 the check could not run. */
static int cmd_check(const struct cfs_conf *conf, const struct cfs_layout *layout, int argc,
                     char **argv)
{
    struct check_opts o = {.reality = true, .tombstone_minutes = 10};
    struct cfs_err err;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (!strcmp(argv[i], "-n") || !strcmp(argv[i], "--store-only")) {
            o.reality = false;
        } else if ((!strcmp(argv[i], "-t") || !strcmp(argv[i], "--tombstone-age")) &&
                   i + 1 < argc) {
            o.tombstone_minutes = strtol(argv[++i], &end, 10);
            if (!*argv[i] || *end || o.tombstone_minutes < 0) {
                fprintf(stderr, "cloudfs check: bad tombstone age '%s'\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "cloudfs check: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    cfs_err_clear(&err);
    long n = check_run(conf, layout, &o, stdout, stderr, &err);
    fflush(stdout);
    if (n < 0) {
        fprintf(stderr, "cloudfs check: %s\n", err.msg);
        return 2;
    }
    if (n > 0)
        fprintf(stderr, "cloudfs check: %ld difference%s\n", n, n == 1 ? "" : "s");
    return n ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *conf_path = NULL;
    /* libvirt's client writes to its socket without MSG_NOSIGNAL: a
     * libvirtd killed mid-call would kill the reconciler (or check) with
     * SIGPIPE instead of failing that call.  Children get it back. */
    signal(SIGPIPE, SIG_IGN);
    static const struct option longopts[] = {
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {"config", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "+c:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': conf_path = optarg; break;
        case 'V': printf("cloudfs %s\n", CFS_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    if (!strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version")) {
        printf("cloudfs %s\n", CFS_VERSION);
        return 0;
    }

    struct cfs_conf conf;
    struct cfs_err err;
    struct cfs_layout *layout = NULL;
    int rc = 1;
    cfs_err_clear(&err);
    if (conf_load(&conf, conf_path, &err) < 0) {
        fprintf(stderr, "cloudfs: %s\n", err.msg);
        conf_free(&conf);
        return 1;
    }
    layout = layout_load(conf.layout_dir, conf.limits, &err);
    if (!layout) {
        fprintf(stderr, "cloudfs: %s\n", err.msg);
        goto out;
    }
    if (!strcmp(cmd, "init")) {
        struct cfs_store *st = NULL;
        if (open_store(&conf, layout, true, &st, &err) < 0) {
            fprintf(stderr, "cloudfs: %s\n", err.msg);
            goto out;
        }
        store_close(st);
        printf("cloudfs: store %s ready\n", conf.store);
        rc = 0;
    } else if (!strcmp(cmd, "mount")) {
        rc = cmd_mount(&conf, layout, argc - optind, argv + optind);
    } else if (!strcmp(cmd, "reconcile")) {
        bool fg = false;
        for (int i = optind + 1; i < argc; i++) {
            if (!strcmp(argv[i], "-f")) {
                fg = true;
            } else {
                fprintf(stderr, "cloudfs reconcile: unexpected argument '%s'\n", argv[i]);
                rc = 2;
                goto out;
            }
        }
        struct cfs_store *st = NULL;
        if (open_store(&conf, layout, false, &st, &err) < 0) {
            fprintf(stderr, "cloudfs: %s\n", err.msg);
            goto out;
        }
        store_close(st);
        rc = reconcile_main(&conf, layout, fg);
    } else if (!strcmp(cmd, "check")) {
        rc = cmd_check(&conf, layout, argc - optind, argv + optind);
    } else if (!strcmp(cmd, "layout-man")) {
        manpage_write_layout(stdout, layout);
        rc = 0;
    } else if (!strcmp(cmd, "layout-use")) {
        if (layout_use_print(stdout, layout, &err) < 0)
            fprintf(stderr, "cloudfs layout-use: %s\n", err.msg);
        else
            rc = 0;
    } else {
        fprintf(stderr, "cloudfs: unknown command '%s'\n", cmd);
        usage(stderr);
        rc = 2;
    }
out:
    layout_free(layout);
    conf_free(&conf);
    return rc;
}
