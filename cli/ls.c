/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/ls.c: `dimg ls`, the files of a guest filesystem inside an image (IMAGE[#VOL][:/PATH]),
 * read-only: names (or, with -R, paths below PATH), with -l type and mode, owner, size and
 * mtime like ls -l, or JSON. Names from the image are escaped in human output. Talks to
 * core/fs/fs.h (through fs_cli.h), json.h, cli.h.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "cli/fs_cli.h"
#include "core/base/esc.h"
#include "core/describe/json.h"

static const char ls_usage[] =
    "usage: dimg ls [-f FMT] [-l] [-R] [--output=human|json] [-U] IMAGE[#VOL][:/PATH]\n"
    "\n"
    "List the files of the filesystem inside IMAGE (read-only, any format or chain). VOL names\n"
    "a partition (#2) or an LVM logical volume (#vg/lv) as 'dimg volumes' shows them; without\n"
    "it the image's only filesystem is used. PATH defaults to the root.\n"
    "\n"
    "  -l                  long listing: type and mode, links, owner, group, size, mtime (UTC)\n"
    "  -R, --recursive     everything below PATH, as paths relative to it\n"
    "  --output=json       a JSON array (name, type, size, mode, uid, gid, nlink, ino, mtime,\n"
    "                      atime, ctime, target for links; with -R the name is the path)\n"
    "  -U                  force share: read an image another process holds\n";

struct ls_ctx {
    struct fs *fs;
    FILE *f;
    bool json, longfmt;
    struct json j;
};

static void ls_json_entry(struct ls_ctx *c, const char *name, const struct fs_stat *st,
                          const char *target)
{
    json_object_open(&c->j, NULL);
    json_string(&c->j, "name", name);
    json_string(&c->j, "type", fs_cli_type_name(st->type));
    json_uint(&c->j, "size", st->size);
    json_uint(&c->j, "mode", st->mode);
    json_uint(&c->j, "uid", st->uid);
    json_uint(&c->j, "gid", st->gid);
    json_uint(&c->j, "nlink", st->nlink);
    json_uint(&c->j, "ino", st->ino);
    json_int(&c->j, "mtime", st->mtime);
    json_int(&c->j, "atime", st->atime);
    json_int(&c->j, "ctime", st->ctime);
    if (st->type == FS_T_CHR || st->type == FS_T_BLK) {
        json_uint(&c->j, "major", major(st->rdev));
        json_uint(&c->j, "minor", minor(st->rdev));
    }
    if (target)
        json_string(&c->j, "target", target);
    json_object_close(&c->j);
}

static void ls_long_entry(struct ls_ctx *c, const char *ename, const struct fs_stat *st,
                          const char *target)
{
    char mode[11], when[32], size[32];
    fs_cli_mode_str(st, mode);
    time_t t = (time_t)st->mtime;
    struct tm tm;
    if (gmtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
    else
        snprintf(when, sizeof when, "%lld", (long long)st->mtime);
    if (st->type == FS_T_CHR || st->type == FS_T_BLK)
        snprintf(size, sizeof size, "%u, %u", major(st->rdev), minor(st->rdev));
    else
        snprintf(size, sizeof size, "%llu", (unsigned long long)st->size);
    fprintf(c->f, "%s %3u %5u %5u %12s %s %s", mode, st->nlink, st->uid, st->gid, size, when,
            ename);
    if (target) {
        char *et = esc_dup(target, strlen(target));
        fprintf(c->f, " -> %s", et ? et : "?");
        free(et);
    }
    fputc('\n', c->f);
}

/* One entry: name (a path below the listed directory with -R). */
static int ls_entry(struct ls_ctx *c, const char *name, const struct fs_stat *st)
{
    char target[FS_PATH_MAX];
    bool link = st->type == FS_T_LNK && (c->json || c->longfmt);
    if (link && fs_readlink(c->fs, st->ino, target, sizeof target) < 0)
        return -1;
    if (c->json) {
        ls_json_entry(c, name, st, link ? target : NULL);
        return 0;
    }
    char *en = esc_dup(name, strlen(name));
    if (!en)
        return err_set(&c->fs->err, -ENOMEM, "out of memory");
    if (c->longfmt)
        ls_long_entry(c, en, st, link ? target : NULL);
    else
        fprintf(c->f, "%s\n", en);
    free(en);
    return 0;
}

static int ls_walk_cb(void *ctx, const char *path, const struct fs_dirent *e)
{
    return ls_entry(ctx, path, &e->st);
}

/* The listing of what the address names into c->f. */
static int ls_run(struct ls_ctx *c, const char *path, bool recursive)
{
    struct fs_stat st;
    /* Like ls: a link named on the command line is followed, except with -l. */
    if (fs_lookup(c->fs, path, !c->longfmt, &st) < 0)
        return -1;
    if (st.type != FS_T_DIR) {
        const char *base = strrchr(path, '/');
        return ls_entry(c, base && base[1] ? base + 1 : path, &st);
    }
    if (recursive)
        return fs_walk(c->fs, st.ino, ls_walk_cb, c) < 0 ? -1 : 0;
    struct fs_dirent *d;
    size_t n;
    if (fs_list(c->fs, st.ino, &d, &n) < 0)
        return -1;
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++)
        r = ls_entry(c, d[i].name, &d[i].st);
    fs_dirents_free(d, n);
    return r;
}

static int cli_ls(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},        {"output", required_argument, NULL, 'O'},
        {"recursive", no_argument, NULL, 'R'},   {"format", required_argument, NULL, 'f'},
        {"force-share", no_argument, NULL, 'U'}, {NULL, 0, NULL, 0},
    };
    const char *fmt = NULL;
    bool recursive = false;
    struct ls_ctx c = {0};
    int o;
    while ((o = cli_getopt(argc, argv, "hf:lRU", longopts)) != -1) {
        switch (o) {
        case 'h': return cli_help("ls");
        case 'f': fmt = optarg; break;
        case 'l': c.longfmt = true; break;
        case 'R': recursive = true; break;
        case 'O':
            if (cli_parse_output("ls", optarg, &c.json))
                return 1;
            break;
        case 'U': cli_open_flags |= IMG_OPEN_FORCE_SHARE; break;
        default: return 1;
        }
    }
    if (optind != argc - 1)
        return cli_usage_err("ls", "expecting one IMAGE[#VOL][:/PATH]");
    struct fs_addr a;
    struct fs_handle h;
    if (fs_cli_open(argv[optind], fmt, false, &a, &h) < 0)
        return 1;
    c.fs = h.fs;
    c.f = c.json ? cli_out_begin() : cli_out_begin_text();
    if (c.json) {
        json_init(&c.j, c.f);
        json_array_open(&c.j, NULL);
    }
    int r = ls_run(&c, a.path, recursive);
    if (r < 0) {
        cli_out_discard();
        cli_err("%s: %s", a.image, h.fs->err.msg);
    } else {
        if (c.json)
            json_array_close(&c.j);
        cli_out_commit();
    }
    fs_cli_close(&a, &h);
    return r < 0 ? 1 : 0;
}

const struct cli_cmd cli_cmd_ls = {
    .name = "ls",
    .fn = cli_ls,
    .summary = "list the files of a filesystem inside an image",
    .usage = ls_usage,
};
