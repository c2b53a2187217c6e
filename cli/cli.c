/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli.c: the command table (one registration line per command; each command's usage text,
 * parser and output live in its own cli/ file), dispatch, global options (--help, --version,
 * --untrusted) and the helpers shared by the cli/ commands (errors, buffered output, option
 * parsing). Talks to: the cli_cmd_* commands; core/ only through them.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/esc.h"
#include "core/block/img.h"
#include "core/block/lock.h"
#include "cli/version.h"

unsigned cli_open_flags;
static const struct cli_app *cli_app; /* the interactive application (main.c) */

/* The commands, in the order `dimg --help` lists them: one line each. Command NAME is
 * cli_cmd_NAME (struct cli_cmd), defined with its usage text, parser and output in the file
 * named. */
#define CLI_COMMANDS(X)                                                                            \
    X(info)     /* cli/info.c */                                                                   \
    X(create)   /* cli/create.c */                                                                 \
    X(convert)  /* cli/convert.c */                                                                \
    X(map)      /* cli/map.c */                                                                    \
    X(layout)   /* cli/map.c */                                                                    \
    X(check)    /* cli/check.c */                                                                  \
    X(compare)  /* cli/compare.c */                                                                \
    X(demo)     /* cli/demo.c */                                                                   \
    X(resize)   /* cli/resize.c */                                                                 \
    X(compact)  /* cli/compact.c */                                                                \
    X(sparsify) /* cli/sparsify.c */                                                               \
    X(snapshot) /* cli/snapshot.c */                                                               \
    X(commit)   /* cli/chain.c */                                                                  \
    X(rebase)   /* cli/chain.c */                                                                  \
    X(append)   /* cli/append.c */                                                                 \
    X(export)   /* cli/export.c */                                                                 \
    X(amend)    /* cli/amend.c */                                                                  \
    X(import)   /* cli/import.c */                                                                 \
    X(volumes)  /* cli/volumes.c */                                                                \
    X(ls)       /* cli/ls.c */                                                                     \
    X(cat)      /* cli/cat.c */                                                                    \
    X(get)      /* cli/get.c */                                                                    \
    /* end */

#define CLI_DECLARE(name) extern const struct cli_cmd cli_cmd_##name;
CLI_COMMANDS(CLI_DECLARE)
#define CLI_ENTRY(name) &cli_cmd_##name,
static const struct cli_cmd *const cli_cmds[] = {CLI_COMMANDS(CLI_ENTRY)};
#define CLI_NCMDS (sizeof cli_cmds / sizeof *cli_cmds)

static int cli_main_help(FILE *f)
{
    fprintf(f, "usage: dimg [OPTIONS] [DIR]          the interactive application (in DIR or .)\n"
               "       dimg [OPTIONS] NBD-URI        the application on one image over NBD\n"
               "       dimg [--untrusted] COMMAND [OPTIONS] ...\n"
               "       dimg --help | --version\n"
               "\n"
               "Commands:\n");
    for (size_t i = 0; i < CLI_NCMDS; i++)
        fprintf(f, "  %-10s %s\n", cli_cmds[i]->name, cli_cmds[i]->summary);
    fprintf(f, "\n"
               "Global options:\n"
               "  --untrusted   follow no external reference (backing files) of any image\n"
               "  --password-file FILE  password of encrypted images: FILE's bytes exactly\n"
               "  --password-env VAR    ... or the value of the environment variable VAR\n"
               "                (else a prompt without echo on the terminal; also accepted\n"
               "                after the command name)\n"
               "  --force-unlock  unlock a LUKS header whose key slots need more than 2^25\n"
               "                PBKDF2 iterations in all (refused by default: a header can\n"
               "                make each wrong password cost minutes)\n"
               "\n"
               "Interactive application options:\n"
               "  -r, --read-only    no action changes an image\n"
               "  --theme NAME|PATH  colour theme (default, mono, dark, light, classic-blue)\n"
               "  --ascii            ASCII glyphs only\n"
               "  --mouse            enable the mouse\n"
               "  NO_COLOR=1         in the environment: no colours\n"
               "\n"
               "'dimg COMMAND --help' describes a command.\n");
    return 0;
}

int cli_help(const char *cmd)
{
    for (size_t i = 0; i < CLI_NCMDS; i++)
        if (strcmp(cli_cmds[i]->name, cmd) == 0)
            fputs(cli_cmds[i]->usage, stdout);
    return 0;
}

void cli_err(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* One printable line, whatever an untrusted name carried (core/base/esc.h). */
    char line[sizeof msg * 4];
    esc_into(line, sizeof line, msg, strlen(msg), NULL);
    fflush(stdout);
    fprintf(stderr, "dimg: %s\n", line);
}

int cli_usage_err(const char *cmd, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cmd)
        cli_err("%s: %s (see 'dimg %s --help')", cmd, msg, cmd);
    else
        cli_err("%s (see 'dimg --help')", msg);
    return 1;
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
    char spec[64];
    snprintf(spec, sizeof spec, ":%s", shortopts); /* ':' makes missing arguments visible */
    opterr = 0;
    int prev = optind;
    int c = getopt_long(argc, argv, spec, longopts, NULL);
    if (c != '?' && c != ':')
        return c;
    const char *word = (optind > prev && optind - 1 < argc) ? argv[optind - 1] : "?";
    if (c == ':') {
        if (optopt && strncmp(word, "--", 2) != 0)
            cli_usage_err(argv[0], "option -%c needs an argument", optopt);
        else
            cli_usage_err(argv[0], "option %s needs an argument", word);
    } else if (optopt && strncmp(word, "--", 2) != 0) {
        cli_usage_err(argv[0], "unknown option -%c", optopt);
    } else {
        cli_usage_err(argv[0], "unknown option %s", word);
    }
    return '?';
}

int cli_parse_output(const char *cmd, const char *arg, bool *json)
{
    if (strcmp(arg, "json") == 0)
        *json = true;
    else if (strcmp(arg, "human") == 0)
        *json = false;
    else
        return cli_usage_err(cmd, "--output must be human or json, not '%s'", arg);
    return 0;
}

static struct {
    FILE *f;
    char *buf;
    size_t len;
    bool text; /* human output: escaped on the way out (JSON has its own escaping) */
} cli_out;

void cli_write_escaped(FILE *f, const char *buf, size_t len)
{
    /* Line by line, so that no UTF-8 sequence is cut and the copy stays small. */
    while (len) {
        const char *nl = memchr(buf, '\n', len);
        size_t l = nl ? (size_t)(nl - buf) + 1 : len;
        char small[1024], *e = l * 4 + 1 <= sizeof small ? small : malloc(l * 4 + 1);
        if (e) {
            size_t el = esc_into(e, e == small ? sizeof small : l * 4 + 1, buf, l, "\n");
            fwrite(e, 1, el, f);
            if (e != small)
                free(e);
        }
        buf += l;
        len -= l;
    }
}

FILE *cli_out_begin(void)
{
    cli_out.text = false;
    cli_out.f = open_memstream(&cli_out.buf, &cli_out.len);
    return cli_out.f ? cli_out.f : stdout; /* without memory, print directly */
}

FILE *cli_out_begin_text(void)
{
    FILE *f = cli_out_begin();
    cli_out.text = true;
    return f;
}

void cli_out_commit(void)
{
    if (!cli_out.f)
        return;
    fclose(cli_out.f);
    if (cli_out.text)
        cli_write_escaped(stdout, cli_out.buf, cli_out.len);
    else
        fwrite(cli_out.buf, 1, cli_out.len, stdout);
    fflush(stdout);
    free(cli_out.buf);
    cli_out.f = NULL;
    cli_out.buf = NULL;
}

void cli_out_discard(void)
{
    if (!cli_out.f)
        return;
    fclose(cli_out.f);
    free(cli_out.buf);
    cli_out.f = NULL;
    cli_out.buf = NULL;
}

/* The interactive application owns the terminal: no prompt on /dev/tty (it would fight
 * curses); passwords come from --password-file or --password-env, else its own box. */
int cli_tui_run(const char *dir)
{
    cli_secret_no_prompt();
    lock_set_warn(NULL); /* curses owns the terminal: the browser shows images in use */
    /* ask_password: without a password given, the application's own box asks. */
    return cli_app->run(dir, cli_open_flags & IMG_OPEN_UNTRUSTED, !cli_secret_given());
}

/* Warnings from the core's image locks (an image in use opened read-only). */
static void cli_lock_warn(const char *msg)
{
    char line[2048];
    esc_into(line, sizeof line, msg, strlen(msg), NULL);
    fflush(stdout);
    fprintf(stderr, "dimg: warning: %s\n", line);
}

int cli_main(int argc, char **argv, const struct cli_app *app)
{
    int i = 1;
    cli_app = app;
    lock_set_warn(cli_lock_warn);
    if (cli_secret_args(&argc, argv) != 0)
        return 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return cli_main_help(stdout);
        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            printf("dimg %s\n", dimg_version_string());
            return 0;
        }
        if (strcmp(a, "--untrusted") == 0) {
            cli_open_flags |= IMG_OPEN_UNTRUSTED;
            continue;
        }
        const char *why = NULL;
        int t = app->take_opt(argc, argv, &i, &why); /* -r, --theme, --ascii, --mouse */
        if (t < 0)
            return cli_usage_err(NULL, "%s", why);
        if (t > 0)
            continue;
        return cli_usage_err(NULL, "unknown option '%s'", a);
    }
    /* No command: the interactive application, in . or in the directory named. */
    if (i >= argc)
        return cli_tui_run(".");
    if (i == argc - 1 && strchr(argv[i], '/') != NULL) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            return cli_tui_run(argv[i]);
    }
    /* An NBD URI alone: the application on that one remote image. */
    if (i == argc - 1 && img_name_is_uri(argv[i]))
        return cli_tui_run(argv[i]);
    for (size_t k = 0; k < CLI_NCMDS; k++) {
        if (strcmp(cli_cmds[k]->name, argv[i]) == 0) {
            optind = 0; /* full getopt reset for the command's own argv */
            return cli_cmds[k]->fn(argc - i, argv + i);
        }
    }
    struct stat st;
    if (i == argc - 1) {
        int sr = stat(argv[i], &st), e = sr == 0 ? ENOTDIR : errno;
        if (sr == 0 && S_ISDIR(st.st_mode))
            return cli_tui_run(argv[i]);
        /* One word was meant as a command or as the directory to browse: say what is wrong
         * with it as a directory, and as a command when it could be one. */
        if (strchr(argv[i], '/') || sr == 0) {
            cli_err("%s: %s", argv[i], strerror(e));
            return 1;
        }
        return cli_usage_err(NULL, "unknown command '%s' (and %s: %s)", argv[i], argv[i],
                             strerror(e));
    }
    return cli_usage_err(NULL, "unknown command '%s'", argv[i]);
}
