/* layout.c: load the fs-layout/ files into a struct cfs_layout.
 *
 * The files are checked strictly at load time (unknown types, defaults that
 * fail their own validation, references to unknown kinds) so that a broken
 * layout stops the daemon at start instead of surprising a user later.
 */
#include "layout.h"

#include <dirent.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "value.h"

static const struct {
    const char *name;
    enum cfs_type type;
} type_names[] = {
    {"enum", CFS_T_ENUM},     {"int", CFS_T_INT},       {"size", CFS_T_SIZE},
    {"bool", CFS_T_BOOL},     {"ratio", CFS_T_RATIO},   {"text", CFS_T_TEXT},
    {"hostname", CFS_T_HOSTNAME}, {"uri", CFS_T_URI},   {"path", CFS_T_PATH},
    {"ref", CFS_T_REF},       {"secret", CFS_T_SECRET}, {"blob", CFS_T_BLOB},
    {"verb", CFS_T_VERB},     {"url", CFS_T_URL},       {"decimal", CFS_T_DECIMAL},
    {"selector", CFS_T_SELECTOR},
    {"cidr", CFS_T_CIDR},     {"ipv4", CFS_T_IPV4},
    {"mac", CFS_T_MAC},       {"ip-list", CFS_T_IPLIST}, {"routes", CFS_T_ROUTES},
    {"tags", CFS_T_TAGS},
};

const char *layout_type_name(enum cfs_type t)
{
    for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (type_names[i].type == t)
            return type_names[i].name;
    return "?";
}

static char *dup_setting(const config_setting_t *s, const char *key, const char *dflt)
{
    const char *v = NULL;
    if (!config_setting_lookup_string(s, key, &v))
        v = dflt;
    return v ? strdup(v) : NULL;
}

/* Read a bound that may be written as a number or as a string in the
 * attribute's own syntax ("20G", "1.5"). */
static int read_bound(const config_setting_t *s, const char *key, enum cfs_type type,
                      long long *out, struct cfs_err *err, const char *where)
{
    const config_setting_t *b = config_setting_get_member(s, key);
    if (!b)
        return 0;
    if (config_setting_type(b) == CONFIG_TYPE_INT || config_setting_type(b) == CONFIG_TYPE_INT64) {
        long long v = config_setting_get_int64(b);
        *out = type == CFS_T_RATIO ? v * 100 : v;
        return 0;
    }
    const char *str = config_setting_get_string(b);
    if (!str)
        return cfs_err_set(err, EINVAL, "%s: %s must be a number or a string", where, key);
    int rc = -1;
    if (type == CFS_T_SIZE)
        rc = value_parse_size(str, out);
    else if (type == CFS_T_RATIO)
        rc = value_parse_ratio(str, out);
    else {
        char *end = NULL;
        *out = strtoll(str, &end, 10);
        rc = (*str && !*end) ? 0 : -1;
    }
    if (rc < 0)
        return cfs_err_set(err, EINVAL, "%s: bad %s '%s'", where, key, str);
    return 0;
}

static int parse_attr(struct cfs_kind *k, const config_setting_t *s, struct cfs_attr_def *a,
                      struct cfs_err *err)
{
    char where[160];
    const char *type = NULL, *mode = NULL;
    int flag = 0;

    a->name = dup_setting(s, "name", NULL);
    if (!a->name || !value_name_ok(a->name) || !strcmp(a->name, "status") ||
        !strcmp(a->name, "wait"))
        return cfs_err_set(err, EINVAL, "kind %s: attribute without a valid name (status and "
                           "wait are reserved)", k->name);
    snprintf(where, sizeof(where), "%s.%s", k->name, a->name);
    a->doc = dup_setting(s, "doc", "");
    if (!config_setting_lookup_string(s, "type", &type))
        return cfs_err_set(err, EINVAL, "%s: no type", where);
    size_t i;
    for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (!strcmp(type_names[i].name, type))
            break;
    if (i == sizeof(type_names) / sizeof(type_names[0]))
        return cfs_err_set(err, EINVAL, "%s: unknown type '%s'", where, type);
    a->type = type_names[i].type;

    a->mode = (a->type == CFS_T_SECRET || a->type == CFS_T_VERB) ? 0200 : 0644;
    if (config_setting_lookup_string(s, "mode", &mode)) {
        char *end = NULL;
        long m = strtol(mode, &end, 8);
        if (*end || m < 0 || m > 0777)
            return cfs_err_set(err, EINVAL, "%s: bad mode '%s'", where, mode);
        a->mode = (mode_t)m;
    }
    if (config_setting_lookup_bool(s, "optional", &flag))
        a->optional = flag;
    if (config_setting_lookup_bool(s, "immutable", &flag))
        a->immutable = flag;
    if (config_setting_lookup_bool(s, "operator", &flag))
        a->operator_only = flag;
    a->redact = a->type == CFS_T_SECRET;
    if (config_setting_lookup_bool(s, "redact", &flag))
        a->redact = a->redact || flag;
    if (config_setting_lookup_bool(s, "once", &flag))
        a->ref_once = flag;
    if (a->ref_once && a->type != CFS_T_REF)
        return cfs_err_set(err, EINVAL, "%s: once needs type ref", where);
    if (config_setting_lookup_bool(s, "test-only", &flag))
        a->test_only = flag;
    if (a->test_only && !a->optional)
        return cfs_err_set(err, EINVAL, "%s: test-only needs optional", where);
    if (config_setting_lookup_bool(s, "user-file", &flag))
        a->user_file = flag;
    if (a->user_file && a->type != CFS_T_PATH)
        return cfs_err_set(err, EINVAL, "%s: user-file needs type path", where);

    const config_setting_t *vals = config_setting_get_member(s, "values");
    if (vals) {
        a->nvalues = (size_t)config_setting_length(vals);
        a->values = calloc(a->nvalues, sizeof(char *));
        if (!a->values)
            return cfs_err_set(err, ENOMEM, "out of memory");
        for (size_t j = 0; j < a->nvalues; j++) {
            const char *v = config_setting_get_string_elem(vals, (int)j);
            if (!v)
                return cfs_err_set(err, EINVAL, "%s: values must be strings", where);
            a->values[j] = strdup(v);
        }
    }
    a->link_name = dup_setting(s, "link", NULL);
    if (a->link_name) {
        const char *op = "attach";
        config_setting_lookup_string(s, "op", &op);
        if (a->type != CFS_T_VERB || (strcmp(op, "attach") && strcmp(op, "detach")))
            return cfs_err_set(err, EINVAL, "%s: 'link' needs type verb and op attach or detach",
                               where);
        a->link_remove = !strcmp(op, "detach");
    }
    if ((a->type == CFS_T_ENUM || (a->type == CFS_T_VERB && !a->link_name)) && a->nvalues == 0)
        return cfs_err_set(err, EINVAL, "%s: an %s needs values", where, type);

    a->min = 0;
    a->max = a->type == CFS_T_TEXT || a->type == CFS_T_SECRET ? 255 : 0;
    if (read_bound(s, "min", a->type, &a->min, err, where) < 0 ||
        read_bound(s, "max", a->type, &a->max, err, where) < 0)
        return -1;
    if (a->type == CFS_T_REF) {
        a->ref = dup_setting(s, "ref", NULL);
        if (!a->ref)
            return cfs_err_set(err, EINVAL, "%s: a ref needs 'ref'", where);
    }
    a->def = dup_setting(s, "default", "");
    a->spec_only = dup_setting(s, "spec-only", NULL);
    if (a->spec_only && !a->spec_only[0])
        return cfs_err_set(err, EINVAL, "%s: spec-only needs the reason nothing acts on it",
                           where);
    return 0;
}

static int parse_kind(config_t *cfg, struct cfs_kind *k, const char *file, struct cfs_err *err)
{
    const config_setting_t *root = config_root_setting(cfg);
    k->name = dup_setting(root, "kind", NULL);
    if (!k->name || !value_name_ok(k->name))
        return cfs_err_set(err, EINVAL, "%s: no valid 'kind'", file);
    k->doc = dup_setting(root, "doc", "");
    k->collection = dup_setting(root, "collection", NULL);
    if (!k->collection || !value_name_ok(k->collection))
        return cfs_err_set(err, EINVAL, "%s: no valid 'collection'", file);
    k->parent_name = dup_setting(root, "parent", NULL);
    config_setting_lookup_int(root, "order", &k->order);
    int flag = 0;
    if (config_setting_lookup_bool(root, "teardown", &flag))
        k->teardown = flag;
    /* Its expunge is a deletion the reconciler tears down. */
    flag = 0;
    config_setting_lookup_bool(root, "recycle", &flag);
    if (flag && !k->teardown)
        return cfs_err_set(err, EINVAL, "%s: 'recycle' needs 'teardown'", file);
    k->recycle = flag;
    if (config_setting_lookup_bool(root, "reconciled", &flag))
        k->reconciled = flag;
    if (config_setting_lookup_bool(root, "system", &flag))
        k->system = flag;
    if (config_setting_lookup_bool(root, "operator", &flag))
        k->operator_only = flag;
    if (config_setting_lookup_bool(root, "shared", &flag))
        k->shared = flag;
    if (config_setting_lookup_bool(root, "tenant", &flag))
        k->tenant = flag;
    if (k->tenant && (k->operator_only || k->system))
        return cfs_err_set(err, EINVAL, "%s: a tenant kind cannot be operator or system", file);

    const config_setting_t *attrs = config_setting_get_member(root, "attributes");
    if (attrs) {
        k->nattrs = (size_t)config_setting_length(attrs);
        k->attrs = calloc(k->nattrs ? k->nattrs : 1, sizeof(*k->attrs));
        if (!k->attrs)
            return cfs_err_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < k->nattrs; i++)
            if (parse_attr(k, config_setting_get_elem(attrs, (unsigned)i), &k->attrs[i], err) < 0)
                return -1;
    }
    const config_setting_t *st = config_setting_get_member(root, "status");
    if (st) {
        k->nstatus = (size_t)config_setting_length(st);
        k->status = calloc(k->nstatus ? k->nstatus : 1, sizeof(*k->status));
        if (!k->status)
            return cfs_err_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < k->nstatus; i++) {
            const config_setting_t *e = config_setting_get_elem(st, (unsigned)i);
            k->status[i].name = dup_setting(e, "name", NULL);
            k->status[i].doc = dup_setting(e, "doc", "");
            int vol = 0;
            if (config_setting_lookup_bool(e, "volatile", &vol))
                k->status[i].volatile_value = vol;
            int red = 0;
            if (config_setting_lookup_bool(e, "redact", &red))
                k->status[i].redact = red;
            k->status[i].mode = 0444;
            const char *smode = NULL;
            if (config_setting_lookup_string(e, "mode", &smode)) {
                char *end = NULL;
                long m = strtol(smode, &end, 8);
                if (*end || (m != 0444 && m != 0440 && m != 0400))
                    return cfs_err_set(err, EINVAL, "%s: status mode must be 0444, 0440 or 0400",
                                       file);
                k->status[i].mode = (mode_t)m;
            }
            if (!k->status[i].name || !value_name_ok(k->status[i].name))
                return cfs_err_set(err, EINVAL, "%s: status entry without a valid name", file);
        }
    }
    const config_setting_t *links = config_setting_get_member(root, "links");
    if (links) {
        k->nlinks = (size_t)config_setting_length(links);
        k->links = calloc(k->nlinks ? k->nlinks : 1, sizeof(*k->links));
        if (!k->links)
            return cfs_err_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < k->nlinks; i++) {
            const config_setting_t *e = config_setting_get_elem(links, (unsigned)i);
            struct cfs_link_def *d = &k->links[i];
            int flag = 0;
            d->name = dup_setting(e, "name", NULL);
            d->doc = dup_setting(e, "doc", "");
            d->kind_name = dup_setting(e, "kind", NULL);
            config_setting_lookup_int(e, "max", &d->max);
            if (config_setting_lookup_bool(e, "exclusive", &flag))
                d->exclusive = flag;
            if (!d->name || !d->kind_name || !value_name_ok(d->name))
                return cfs_err_set(err, EINVAL, "%s: link entry needs name and kind", file);
        }
    }
    for (size_t i = 0; i < k->nattrs; i++) {
        struct cfs_attr_def *a = &k->attrs[i];
        for (size_t j = 0; a->link_name && j < k->nlinks; j++)
            if (!strcmp(k->links[j].name, a->link_name))
                a->link = &k->links[j];
        if (a->link_name && !a->link)
            return cfs_err_set(err, EINVAL, "%s: %s.%s names no link '%s'", file, k->name,
                               a->name, a->link_name);
    }
    const config_setting_t *back = config_setting_get_member(root, "backlinks");
    if (back) {
        k->nbacklinks = (size_t)config_setting_length(back);
        k->backlinks = calloc(k->nbacklinks ? k->nbacklinks : 1, sizeof(*k->backlinks));
        if (!k->backlinks)
            return cfs_err_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < k->nbacklinks; i++) {
            const config_setting_t *e = config_setting_get_elem(back, (unsigned)i);
            struct cfs_backlink_def *d = &k->backlinks[i];
            d->name = dup_setting(e, "name", NULL);
            d->doc = dup_setting(e, "doc", "");
            d->kind_name = dup_setting(e, "kind", NULL);
            d->via = dup_setting(e, "via", NULL);
            if (!d->name || !d->kind_name || !d->via || !value_name_ok(d->name))
                return cfs_err_set(err, EINVAL, "%s: backlink entry needs name, kind and via", file);
        }
    }
    return 0;
}

static int load_text(struct cfs_layout *l, const char *name, const char *text, const char *path,
                     struct cfs_err *err)
{
    config_t cfg;
    int rc = -1;
    config_init(&cfg);
    int ok = path ? config_read_file(&cfg, path) : config_read_string(&cfg, text);
    if (!ok) {
        cfs_err_set(err, EINVAL, "layout %s:%d: %s", name, config_error_line(&cfg),
                    config_error_text(&cfg));
        goto cleanup;
    }
    struct cfs_kind *grown = realloc(l->kinds, (l->nkinds + 1) * sizeof(*l->kinds));
    if (!grown) {
        cfs_err_set(err, ENOMEM, "out of memory");
        goto cleanup;
    }
    l->kinds = grown;
    memset(&l->kinds[l->nkinds], 0, sizeof(*l->kinds));
    l->nkinds++;
    rc = parse_kind(&cfg, &l->kinds[l->nkinds - 1], name, err);
cleanup:
    config_destroy(&cfg);
    return rc;
}

static int cmp_kind(const void *a, const void *b)
{
    const struct cfs_kind *x = a, *y = b;
    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int apply_limits(struct cfs_layout *l, const config_setting_t *limits, struct cfs_err *err)
{
    if (!limits)
        return 0;
    for (int i = 0; i < config_setting_length(limits); i++) {
        const config_setting_t *ks = config_setting_get_elem(limits, (unsigned)i);
        const char *kname = config_setting_name(ks);
        struct cfs_kind *k = (struct cfs_kind *)layout_kind(l, kname);
        if (!k)
            return cfs_err_set(err, EINVAL, "limits: unknown kind '%s'", kname);
        for (int j = 0; j < config_setting_length(ks); j++) {
            const config_setting_t *as = config_setting_get_elem(ks, (unsigned)j);
            const char *aname = config_setting_name(as);
            struct cfs_attr_def *a = (struct cfs_attr_def *)layout_attr(k, aname);
            char where[160];
            snprintf(where, sizeof(where), "limits.%s.%s", kname, aname);
            if (!a)
                return cfs_err_set(err, EINVAL, "%s: unknown attribute", where);
            if (read_bound(as, "min", a->type, &a->min, err, where) < 0 ||
                read_bound(as, "max", a->type, &a->max, err, where) < 0)
                return -1;
        }
    }
    return 0;
}

/* Names in a reference from kind k to kind t: 1 for a top-level target or a
 * sibling, else the levels from the nearest common ancestor down to t; 0
 * when there is none. */
static int ref_depth(const struct cfs_kind *k, const struct cfs_kind *t)
{
    if (!t->parent || t->parent == k->parent)
        return 1;
    int depth = 1;
    if (!k->parent) {   /* a top-level kind names t by its whole path */
        for (const struct cfs_kind *a = t->parent; a; a = a->parent)
            depth++;
        return depth;
    }
    for (const struct cfs_kind *a = t->parent; a; a = a->parent, depth++)
        for (const struct cfs_kind *b = k->parent; b; b = b->parent)
            if (a == b)
                return depth;
    return 0;
}

/* Cross-check the kinds once all are read: parents, references, defaults. */
static int link_kinds(struct cfs_layout *l, struct cfs_err *err)
{
    for (size_t i = 0; i < l->nkinds; i++) {
        struct cfs_kind *k = &l->kinds[i];
        for (size_t j = 0; j < i; j++)
            if (!strcmp(l->kinds[j].name, k->name))
                return cfs_err_set(err, EINVAL, "layout: kind %s defined twice", k->name);
        if (k->parent_name) {
            k->parent = layout_kind(l, k->parent_name);
            if (!k->parent)
                return cfs_err_set(err, EINVAL, "layout: %s: unknown parent %s", k->name,
                                   k->parent_name);
        }
    }
    for (size_t i = 0; i < l->nkinds; i++) {
        struct cfs_kind *k = &l->kinds[i];
        struct cfs_kind *parent = (struct cfs_kind *)k->parent;
        const struct cfs_kind ***list = parent ? &parent->children : &l->roots;
        size_t *n = parent ? &parent->nchildren : &l->nroots;
        const struct cfs_kind **grown = realloc(*list, (*n + 1) * sizeof(**list));
        if (!grown)
            return cfs_err_set(err, ENOMEM, "out of memory");
        grown[(*n)++] = k;
        *list = grown;

        for (size_t a = 0; a < k->nattrs; a++) {
            struct cfs_attr_def *d = &k->attrs[a];
            if (d->type == CFS_T_REF) {
                d->ref_kind = layout_kind(l, d->ref);
                if (!d->ref_kind)
                    return cfs_err_set(err, EINVAL, "layout: %s.%s: unknown kind %s", k->name,
                                       d->name, d->ref);
                /* References resolve among siblings or top-level kinds by
                 * name (the store relies on this when it looks for users of
                 * a resource), or by a path from the nearest common
                 * ancestor (ref_depth names). */
                d->ref_depth = ref_depth(k, d->ref_kind);
                if (d->ref_depth < 1)
                    return cfs_err_set(err, EINVAL,
                                       "layout: %s.%s: %s shares no ancestor with %s",
                                       k->name, d->name, d->ref, k->name);
            }
            if (d->def[0] && d->type != CFS_T_VERB) {
                char *norm = NULL;
                if (value_normalize(d, d->def, strlen(d->def), &norm, err) < 0)
                    return -1;
                free(d->def);
                d->def = norm;
            }
        }
        for (size_t j = 0; j < k->nbacklinks; j++) {
            struct cfs_backlink_def *d = &k->backlinks[j];
            d->kind = layout_kind(l, d->kind_name);
            if (!d->kind || d->kind->parent != k->parent || !layout_status(d->kind, d->via))
                return cfs_err_set(err, EINVAL,
                                   "layout: %s status/%s: backlinks need a sibling kind with "
                                   "status %s", k->name, d->name, d->via);
        }
        for (size_t j = 0; j < k->nlinks; j++) {
            struct cfs_link_def *d = &k->links[j];
            d->kind = layout_kind(l, d->kind_name);
            if (!d->kind || d->kind->parent != k->parent)
                return cfs_err_set(err, EINVAL, "layout: %s/%s: links must target a sibling kind",
                                   k->name, d->name);
        }
    }
    return 0;
}

static int load_dir(struct cfs_layout *l, const char *dir, struct cfs_err *err)
{
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, alphasort);
    int rc = 0;
    if (n < 0)
        return cfs_err_set(err, errno, "layout directory %s: %s", dir, strerror(errno));
    for (int i = 0; i < n; i++) {
        size_t len = strlen(ents[i]->d_name);
        if (rc == 0 && len > 4 && !strcmp(ents[i]->d_name + len - 4, ".cfg")) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
            rc = load_text(l, ents[i]->d_name, NULL, path, err);
        }
        free(ents[i]);
    }
    free(ents);
    return rc;
}

struct cfs_layout *layout_load(const char *dir, const struct config_setting_t *limits,
                               struct cfs_err *err)
{
    struct cfs_layout *l = calloc(1, sizeof(*l));
    if (!l) {
        cfs_err_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    int rc = 0;
    if (dir && *dir) {
        rc = load_dir(l, dir, err);
    } else {
        for (size_t i = 0; rc == 0 && i < cfs_embedded_layout_count; i++) {
            size_t len = strlen(cfs_embedded_layout[i].name);
            if (len > 4 && !strcmp(cfs_embedded_layout[i].name + len - 4, ".cfg"))
                rc = load_text(l, cfs_embedded_layout[i].name, cfs_embedded_layout[i].text,
                               NULL, err);
        }
    }
    if (rc == 0 && l->nkinds == 0)
        rc = cfs_err_set(err, EINVAL, "layout: no kinds found");
    if (rc == 0) {
        qsort(l->kinds, l->nkinds, sizeof(*l->kinds), cmp_kind);
        rc = apply_limits(l, (const config_setting_t *)limits, err);
    }
    if (rc == 0)
        rc = link_kinds(l, err);
    if (rc < 0) {
        layout_free(l);
        return NULL;
    }
    return l;
}

void layout_free(struct cfs_layout *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->nkinds; i++) {
        struct cfs_kind *k = &l->kinds[i];
        for (size_t a = 0; a < k->nattrs; a++) {
            struct cfs_attr_def *d = &k->attrs[a];
            free(d->name);
            free(d->doc);
            free(d->def);
            free(d->ref);
            free(d->link_name);
            free(d->spec_only);
            for (size_t v = 0; v < d->nvalues; v++)
                free(d->values[v]);
            free(d->values);
        }
        for (size_t s = 0; s < k->nstatus; s++) {
            free(k->status[s].name);
            free(k->status[s].doc);
        }
        for (size_t s = 0; s < k->nlinks; s++) {
            free(k->links[s].name);
            free(k->links[s].doc);
            free(k->links[s].kind_name);
        }
        for (size_t s = 0; s < k->nbacklinks; s++) {
            free(k->backlinks[s].name);
            free(k->backlinks[s].doc);
            free(k->backlinks[s].kind_name);
            free(k->backlinks[s].via);
        }
        free(k->attrs);
        free(k->status);
        free(k->links);
        free(k->backlinks);
        free(k->children);
        free(k->name);
        free(k->doc);
        free(k->collection);
        free(k->parent_name);
    }
    free(l->kinds);
    free(l->roots);
    free(l);
}

const struct cfs_kind *layout_kind(const struct cfs_layout *l, const char *name)
{
    for (size_t i = 0; i < l->nkinds; i++)
        if (!strcmp(l->kinds[i].name, name))
            return &l->kinds[i];
    return NULL;
}

const struct cfs_kind *layout_child_by_collection(const struct cfs_layout *l,
                                                  const struct cfs_kind *parent,
                                                  const char *collection)
{
    const struct cfs_kind *const *list = parent ? parent->children : l->roots;
    size_t n = parent ? parent->nchildren : l->nroots;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i]->collection, collection))
            return list[i];
    return NULL;
}

const struct cfs_attr_def *layout_attr(const struct cfs_kind *k, const char *name)
{
    for (size_t i = 0; i < k->nattrs; i++)
        if (!strcmp(k->attrs[i].name, name))
            return &k->attrs[i];
    return NULL;
}

const struct cfs_status_def *layout_status(const struct cfs_kind *k, const char *name)
{
    for (size_t i = 0; i < k->nstatus; i++)
        if (!strcmp(k->status[i].name, name))
            return &k->status[i];
    return NULL;
}

const struct cfs_backlink_def *layout_backlink(const struct cfs_kind *k, const char *name)
{
    for (size_t i = 0; i < k->nbacklinks; i++)
        if (!strcmp(k->backlinks[i].name, name))
            return &k->backlinks[i];
    return NULL;
}

const struct cfs_link_def *layout_link(const struct cfs_kind *k, const char *name)
{
    for (size_t i = 0; i < k->nlinks; i++)
        if (!strcmp(k->links[i].name, name))
            return &k->links[i];
    return NULL;
}
