/* cli_convert.c: `dimg convert`, qemu-img convert's options on top of ops_convert(): -p prints
 * "    (42.00/100%)\r" on stderr, SIGINT/SIGTERM cancel cleanly (DST.part removed).
 * Talks to: ops.h (ops_convert), img.h (option lists, sizes), cli.h.
 */
#include "tui/cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/img.h"
#include "core/ops.h"

static atomic_int convert_cancel;

static void convert_on_signal(int sig)
{
    (void)sig;
    atomic_store(&convert_cancel, 1);
}

struct convert_prog {
    long last; /* last printed hundredths of a percent, -1 before the first */
};

static void convert_progress(void *ctx, const struct ops_progress *p)
{
    struct convert_prog *cp = ctx;
    long now = p->total ? (long)((double)p->done * 10000.0 / (double)p->total) : 10000;
    /* qemu-img updates in steps of 1%; the final 100% is printed by the caller. */
    if (cp->last >= 0 && now - cp->last < 100)
        return;
    cp->last = now;
    fprintf(stderr, "    (%3.2f/100%%)\r", (double)now / 100.0);
    fflush(stderr);
}

int cli_convert(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct ops_convert_req req = {.dst_fmt = "raw", .sparse = OPS_CONVERT_DEFAULT_SPARSE};
    struct img_opts opts = {0};
    struct img_err err = {0};
    bool progress = false, quiet = false;
    int c, status = 1;
    while ((c = cli_getopt(argc, argv, "hf:O:o:cpqS:B:F:U", longopts)) != -1) {
        switch (c) {
        case 'h': img_opts_free(&opts); return cli_help("convert");
        case 'f': req.src_fmt = optarg; break;
        case 'O': req.dst_fmt = optarg; break;
        case 'o':
            if (img_opts_parse(&opts, optarg, &err) < 0) {
                cli_err("%s", err.msg);
                goto out;
            }
            break;
        case 'c': req.compress = true; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 'S':
            if (img_parse_size(optarg, &req.sparse) < 0 || req.sparse % 512 ||
                req.sparse > (16u << 20)) {
                cli_err("invalid -S '%s': a multiple of 512 bytes up to 16 MiB, or 0", optarg);
                goto out;
            }
            break;
        case 'B': req.backing = optarg; break;
        case 'F': req.backing_fmt = optarg; break;
        case 'U': break;
        default: goto out;
        }
    }
    if (argc - optind != 2) {
        status = cli_usage_err("convert", "expecting one source and one target file name");
        goto out;
    }
    if (req.backing_fmt && !req.backing) {
        status = cli_usage_err("convert", "-F needs a backing file (-B)");
        goto out;
    }
    req.src = argv[optind];
    req.dst = argv[optind + 1];
    req.opts = &opts;
    req.open_flags = cli_open_flags;

    struct convert_prog cp = {.last = -1};
    struct ops_progress prog = {.cancel = &convert_cancel};
    if (progress && !quiet) {
        prog.cb = convert_progress;
        prog.ctx = &cp;
    }
    req.progress = &prog;
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = convert_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int r = ops_convert(&req, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (progress && !quiet) {
        if (r == 0 && cp.last < 10000)
            fprintf(stderr, "    (100.00/100%%)\r");
        fputc('\n', stderr);
    }
    if (r < 0) {
        cli_err("%s", err.msg);
        goto out;
    }
    status = 0;
out:
    img_opts_free(&opts);
    return status;
}
