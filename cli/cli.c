/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli.c: command dispatch, global options (--help, --version, --untrusted), per-command usage
 * texts and the helpers shared by the cli/ commands (errors, buffered output, option parsing).
 * Talks to: the cli_* commands; core/ only through them.
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

struct cli_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
    const char *usage;
};

static const struct cli_cmd cli_cmds[] = {
    {"info", cli_info, "show an image's metadata",
     "usage: dimg info [-f FMT] [--output=human|json] [--backing-chain] FILE\n"
     "\n"
     "Show the format, sizes, cluster size, backing file, snapshots and format-specific\n"
     "information of FILE, like qemu-img info.\n"
     "\n"
     "  -f FMT              image format (default: probe)\n"
     "  --output=FMT        human (default) or json\n"
     "  --backing-chain     also show every image of the backing chain\n"
     "  -U                  force share: read an image another process holds (no locks, no\n"
     "                      warning)\n"
     "\n"
     "FILE may be an archive (.ova, .tar[.gz|.xz|.zst|.bz2], .zip) or a compressed file\n"
     "(.gz, .xz, .bz2, .zst): its members with their formats and sizes, and an OVA's\n"
     "disks and virtual hardware; ARCHIVE/MEMBER shows one member.\n"},
    {"create", cli_create, "create a new image",
     "usage: dimg create -f FMT [-o OPTIONS] [-b BACKING -F BACKING_FMT [-u]] FILE [SIZE]\n"
     "\n"
     "Create FILE of format FMT and SIZE bytes (suffixes k, M, G, T, P, E: powers of 1024).\n"
     "With -b, SIZE defaults to the backing image's size.\n"
     "\n"
     "  -f FMT              format of the new image\n"
     "  -o k=v,...          format options (-o help lists them; ',,' escapes a comma)\n"
     "  -b BACKING          backing file (relative names are relative to FILE's directory)\n"
     "  -F BACKING_FMT      format of the backing file (required with -b)\n"
     "  -u                  do not open the backing file (SIZE is then required)\n"
     "  -q                  quiet\n"},
    {"convert", cli_convert, "copy an image into a new one, possibly of another format",
     "usage: dimg convert [-f FMT] [-O OUTPUT_FMT] [-o OPTIONS] [-c] [-p] [-q] [-S BYTES]\n"
     "                    [-B BACKING -F BACKING_FMT] [-l SNAPSHOT] [--compress=F]\n"
     "                    [-m THREADS] [-t CACHE] SRC DST\n"
     "\n"
     "Copy the guest contents of SRC (through its backing chain) into a new image DST.\n"
     "DST is written as DST.part and renamed into place only when complete.\n"
     "SRC may be ARCHIVE/MEMBER (cloud.tar.gz/disk.raw, vm.ova/disk1.vmdk) or a compressed\n"
     "file (disk.raw.xz): raw images are streamed; other formats are first copied to a\n"
     "temporary file beside DST (removed afterwards). Images in archives are opened as with\n"
     "--untrusted.\n"
     "\n"
     "  -f FMT              source format (default: probe)\n"
     "  -O FMT              output format (default: raw)\n"
     "  -o k=v,...          output format options\n"
     "  -c                  compress the output (formats with compression only)\n"
     "  -p                  show progress on stderr\n"
     "  -q                  quiet\n"
     "  -S BYTES            zero-detection block size (default 4k; 0 allocates everything)\n"
     "  -B BACKING          make DST an overlay of BACKING; copy only SRC's top layer\n"
     "  -F BACKING_FMT      format of BACKING (required with -B)\n"
     "  -l SNAPSHOT         copy SRC as its internal snapshot SNAPSHOT (ID or name) saw it\n"
     "  --compress=F        -O raw only: write DST as one xz, gz, zst or bz2 stream (also\n"
     "                      chosen by a DST name ending in .xz, .gz, .zst or .bz2)\n"
     "  -U                  force share: read an image another process holds (no locks, no\n"
     "                      warning)\n"
     "  -m THREADS          threads that compress (-c) or read compressed sources\n"
     "                      (default: the online cores; 1: none)\n"
     "  -W                  accepted for qemu-img compatibility (writes stay in order)\n"
     "  -t CACHE            unsafe: do not sync DST before the rename (qemu-img's default;\n"
     "                      a crash may leave it incomplete); other modes sync (-T accepted)\n"},
    {"map", cli_map, "dump the guest allocation map",
     "usage: dimg map [-f FMT] [--output=human|json] [--start-offset=OFF] [--max-length=LEN]\n"
     "                FILE\n"
     "\n"
     "Show which guest ranges hold data, read as zeros or come from a backing file, and\n"
     "where they live, like qemu-img map.\n"
     "\n"
     "  -U                  force share: read an image another process holds (no locks, no\n"
     "                      warning)\n"},
    {"layout", cli_layout, "show the regions of the image file (host view)",
     "usage: dimg layout [-f FMT] [--output=human|json] FILE\n"
     "\n"
     "List the regions of the image file: headers, tables, data, free and leaked space.\n"},
    {"check", cli_check, "check an image's consistency",
     "usage: dimg check [-f FMT] [-r leaks|all] [--output=human|json] [-p] [-q] [--stats]\n"
     "                  FILE\n"
     "\n"
     "Check the metadata of FILE; -r repairs leaks only or all errors (opens read-write).\n"
     "Exit status: 0 consistent, 1 check failed, 2 corruptions, 3 leaks only,\n"
     "63 the format has no check.\n"
     "\n"
     "  --stats             also print the allocation counts where qemu-img prints none\n"
     "                      (vmdk)\n"
     "  -U                  force share: read an image another process holds (no locks, no\n"
     "                      warning)\n"},
    {"compare", cli_compare, "compare the contents of two images",
     "usage: dimg compare [-f FMT_A] [-F FMT_B] [-s] [-q] A B\n"
     "\n"
     "Compare the guest contents of A and B. Without -s an extra part of the larger image\n"
     "must read as zeros; with -s (strict) sizes and allocation must match too.\n"
     "Exit status: 0 identical, 1 different, 2 open error, 3 allocation error, 4 read error.\n"
     "\n"
     "  -U                  force share: read an image another process holds (no locks, no\n"
     "                      warning)\n"},
    {"demo", cli_demo, "make a directory of sample images and open it",
     "usage: dimg demo [--no-open] [DIR]\n"
     "\n"
     "Create DIR (default: dimg-demo) holding sample images that show every feature: a qcow2\n"
     "with data, zero and compressed clusters, two snapshots and a partition table, a backing\n"
     "chain of three, a sparse raw disk and one image of each other format; then open the\n"
     "interactive application in it (only on a terminal). An existing demo directory is\n"
     "reused.\n"
     "\n"
     "  --no-open           only create the directory\n"},
    {"resize", cli_resize, "grow or shrink an image",
     "usage: dimg resize [-f FMT] [--shrink] [--preallocation=off|falloc|full] [--fix-gpt]\n"
     "                   [-p] [-q] FILE [+|-]SIZE\n"
     "\n"
     "Set the virtual size of FILE to SIZE, or change it by +SIZE/-SIZE, like qemu-img resize.\n"
     "\n"
     "  -f FMT              image format (default: probe)\n"
     "  --shrink            allow making the image smaller (data past the new end is lost)\n"
     "  --preallocation=M   allocate the new area: off (default), falloc or full (raw)\n"
     "  --fix-gpt           after growing, move the backup GPT to the new end of the disk\n"
     "  -p                  show progress on stderr\n"
     "  -q                  quiet\n"},
    {"compact", cli_compact, "give back the space of zero blocks in place (vdi)",
     "usage: dimg compact [-f FMT] [-p] [-q] FILE\n"
     "\n"
     "Compact FILE in place as VBoxManage modifymedium --compact does: blocks that hold only\n"
     "zeros are unmapped (they still read as zeros, also over a differencing image's parent),\n"
     "the remaining blocks are moved into the holes and the file is cut. A crash or Ctrl-C\n"
     "leaves an image that reads the same. Formats without in-place compaction (all but vdi)\n"
     "are refused: use dimg convert.\n"
     "\n"
     "  -f FMT              image format (default: probe)\n"
     "  -p                  show progress on stderr\n"
     "  -q                  quiet\n"},
    {"snapshot", cli_snapshot, "list, create, apply or delete internal snapshots",
     "usage: dimg snapshot [-f FMT] [-p] [-q] [-l | -c NAME | -a NAME | -d NAME] FILE\n"
     "\n"
     "Work on the internal snapshots of FILE (qcow2), like qemu-img snapshot. Without an\n"
     "action, list them as -l does. -a and -d take a snapshot's ID or name.\n"
     "\n"
     "  -f FMT              image format (default: probe)\n"
     "  -l                  list the snapshots\n"
     "  -c NAME             create snapshot NAME of the current disk\n"
     "  -a NAME             apply snapshot NAME: the disk (and its size) become the snapshot's\n"
     "  -d NAME             delete snapshot NAME\n"
     "  -p                  show progress on stderr\n"
     "  -q                  quiet\n"},
    {"commit", cli_commit, "write an overlay's data into its backing file",
     "usage: dimg commit [-f FMT] [-b BASE] [-d] [-p] [-q] FILE\n"
     "\n"
     "Write the data FILE holds into its backing file (or into BASE, further down the chain:\n"
     "then every layer in between is written there too), like qemu-img commit. The base is\n"
     "grown when it is smaller, written and flushed, and only then is FILE emptied so that it\n"
     "reads from the base. Cancelled (Ctrl-C), the base holds part of the data and FILE is\n"
     "unchanged: the chain reads the same and a new commit finishes the work.\n"
     "\n"
     "  -f FMT              format of FILE (default: probe)\n"
     "  -b BASE             commit into BASE, a deeper image of the chain (implies -d)\n"
     "  -d                  leave FILE's data in place (do not empty it)\n"
     "  -p                  show progress on stderr\n"
     "  -q                  quiet\n"},
    {"rebase", cli_rebase, "change the backing file of an overlay",
     "usage: dimg rebase [-f FMT] -b NEW [-F NEW_FMT] [-u] [-p] [-q] FILE\n"
     "\n"
     "Make NEW the backing file of FILE, like qemu-img rebase. The safe default copies into\n"
     "FILE every part whose content differs between the old chain and NEW, so that FILE reads\n"
     "the same afterwards; then the name is rewritten. -b \"\" flattens: FILE gets everything\n"
     "from its old chain and no backing file. NEW is relative to FILE's directory.\n"
     "\n"
     "  -f FMT              format of FILE (default: probe)\n"
     "  -b NEW              the new backing file (\"\": none)\n"
     "  -F NEW_FMT          format of NEW (required with a non-empty -b)\n"
     "  -u                  unsafe: only rewrite the name and format, copy nothing\n"
     "  -p                  show progress on stderr\n"
     "  -q                  quiet\n"},
    {"append", cli_append, "append zeros or another raw image to a raw image",
     "usage: dimg append [-f raw] [--dense] [-o NEW] [-p] [-q] FILE SIZE|OTHER\n"
     "\n"
     "Grow the raw image FILE by SIZE bytes of zeros, or by the contents of the raw image\n"
     "OTHER (an argument naming an existing file is a file, else a size). Only allocated\n"
     "data is copied; holes stay holes. Other formats are refused: use 'dimg resize'.\n"
     "\n"
     "  -f raw              name the format instead of probing it\n"
     "  --dense             write real zeros instead of leaving a hole\n"
     "  -o NEW              leave FILE untouched and write FILE plus the appendix to NEW\n"
     "                      (written as NEW.part, renamed when complete)\n"
     "  -p                  show progress on stderr\n"
     "  -q                  quiet\n"},
    {"export", cli_export, "pack images into an OVA appliance",
     "usage: dimg export --ova OUT.ova [--name NAME] [--cpus N] [--memory MIB]\n"
     "                   [--controller=scsi|ide] [--network NAME] [-f FMT] [-p] [-q] IMAGE...\n"
     "\n"
     "Write an OVA (a tar that VirtualBox, VMware and ovftool import) holding NAME.ovf, an\n"
     "OVF 1.0 descriptor, each IMAGE converted to a streamOptimized vmdk, and NAME.mf with\n"
     "their SHA-256 digests. The disks are staged in OUT.ova.part.d beside OUT (removed\n"
     "afterwards); OUT is written as OUT.ova.part and renamed into place only when complete.\n"
     "\n"
     "  --ova OUT.ova       the appliance to write (required)\n"
     "  --name NAME         the virtual machine's name (default: OUT without .ova)\n"
     "  --cpus N            virtual CPUs (default 1)\n"
     "  --memory MIB        memory in MiB (default 1024)\n"
     "  --controller=C      scsi (LSI Logic, up to 15 disks; default) or ide (up to 4)\n"
     "  --network NAME      add a network adapter connected to network NAME\n"
     "  -f FMT              format of every IMAGE (default: probe each)\n"
     "  -p                  show progress on stderr\n"
     "  -q                  quiet\n"},
    {"amend", cli_amend, "add or remove LUKS key slots, change lazy_refcounts (qcow2)",
     "usage: dimg amend [-f FMT] [-o OPTIONS] [--force] FILE\n"
     "       dimg amend --add-key [--slot N] [--iter-time MS] [--password-file F]\n"
     "                  [--new-password-file F2 | --new-password-env V2] FILE\n"
     "       dimg amend --remove-key (--slot N [--password-file F] |\n"
     "                  --old-password-file F3 | --old-password-env V3) [--force] FILE\n"
     "\n"
     "Change FILE in place, like qemu-img amend. --add-key gives a LUKS-encrypted qcow2 a new\n"
     "password in a free key slot (or slot N): the image's password (--password-file,\n"
     "--password-env or a prompt) unlocks it, the new one comes from --new-password-* or a\n"
     "prompt. --remove-key erases slot N (the image's password must open the image) or every\n"
     "slot the old password opens. The last active slot is only erased with --force (the data\n"
     "is then lost for good). Passwords are never read from argv or -o.\n"
     "\n"
     "  -o k=v,...          qemu-img's names: encrypt.state=active|inactive, encrypt.keyslot=N,\n"
     "                      encrypt.iter-time=MS, lazy_refcounts=on|off\n"
     "  --add-key           encrypt.state=active\n"
     "  --remove-key        encrypt.state=inactive\n"
     "  --slot N            encrypt.keyslot=N (0..7)\n"
     "  --iter-time MS      PBKDF2 time for the new slot (default 2000)\n"
     "  --force             overwrite an active slot, or erase the last one\n"},
    {"import", cli_import, "unpack an OVA (or flat archive) with its manifest verified",
     "usage: dimg import [-O FMT] [--no-manifest] [-p] [-q] ARCHIVE [DIR]\n"
     "\n"
     "Unpack the files of ARCHIVE (an .ova, tar or zip holding plain file names) into DIR\n"
     "(default: the current directory; created when missing). The .mf manifest's SHA-1/SHA-256 "
     "digests must match\n"
     "every member, or nothing is written. Members with '..', absolute names or links are\n"
     "refused, existing files are never overwritten, and each file is written as NAME.part\n"
     "and renamed when complete. Prints the files written.\n"
     "\n"
     "  -O FMT              convert each disk to FMT (DIR/DISK.FMT) instead of keeping it\n"
     "  --no-manifest       import an archive without a manifest, unverified; members a\n"
     "                      manifest does not cover (a .cert) are left out (else refused)\n"
     "  -p                  show progress on stderr\n"
     "  -q                  quiet\n"
     "\n"
     "Limit: a member declaring (or a compressed file inflating to) more than 4 TiB is\n"
     "refused; DIMG_ARCHIVE_LIMIT=SIZE in the environment sets another limit.\n"},
};
#define CLI_NCMDS (sizeof cli_cmds / sizeof *cli_cmds)

static int cli_main_help(FILE *f)
{
    fprintf(f, "usage: dimg [OPTIONS] [DIR]          the interactive application (in DIR or .)\n"
               "       dimg [--untrusted] COMMAND [OPTIONS] ...\n"
               "       dimg --help | --version\n"
               "\n"
               "Commands:\n");
    for (size_t i = 0; i < CLI_NCMDS; i++)
        fprintf(f, "  %-10s %s\n", cli_cmds[i].name, cli_cmds[i].summary);
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
        if (strcmp(cli_cmds[i].name, cmd) == 0)
            fputs(cli_cmds[i].usage, stdout);
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
    for (size_t k = 0; k < CLI_NCMDS; k++) {
        if (strcmp(cli_cmds[k].name, argv[i]) == 0) {
            optind = 0; /* full getopt reset for the command's own argv */
            return cli_cmds[k].fn(argc - i, argv + i);
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
