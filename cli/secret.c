/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/secret.c: passwords for encrypted images on the command line.
 *
 * --password-file FILE (the file's bytes exactly, as qemu's "secret,file=" reads them),
 * --password-env VAR (the variable's value), or else a prompt without echo on the terminal
 * (/dev/tty), asked only when an encrypted image's data is first needed. Passwords never come
 * from argv. The password is kept once per process in a locked buffer that is excluded from
 * core dumps and wiped at exit; the process is made non-dumpable while it holds one.
 * --force-unlock lifts the bound on the PBKDF2 work one LUKS unlock may spend.
 * Talks to: img.h (img_set_secret_provider), core/crypto/crypto.h (locked buffers),
 * core/crypto/luks.h, cli.h.
 */
#include "cli/cli.h"

#include "core/crypto/crypto.h"
#include "core/block/img.h"
#include "core/crypto/luks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

static const char *secret_file, *secret_env;
static uint8_t *secret_buf; /* cached password (IMG_SECRET_MAX bytes, locked), or NULL */
static size_t secret_len;
static bool secret_no_prompt;

void cli_secret_no_prompt(void)
{
    secret_no_prompt = true;
}

static void secret_wipe(void)
{
    crypto_secure_free(secret_buf, IMG_SECRET_MAX);
    secret_buf = NULL;
    secret_len = 0;
}

/* FILE's bytes exactly; opt names the option in messages. */
static int read_file(const char *file, const char *opt, uint8_t *buf, size_t *len,
                     struct img_err *err)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0)
        return err_set(err, -errno, "%s %s: %s", opt, file, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > IMG_SECRET_MAX) {
        close(fd);
        return err_set(err, -EINVAL,
                       "%s %s: not a regular file of at most %u "
                       "bytes",
                       opt, file, IMG_SECRET_MAX);
    }
    /* qemu reads such files silently; a key anyone on the machine can read is worth a line. */
    if (st.st_mode & S_IROTH)
        cli_err("warning: %s %s is readable by every user (chmod o-r it)", opt, file);
    ssize_t n = read(fd, buf, IMG_SECRET_MAX);
    int e = errno;
    close(fd);
    if (n < 0)
        return err_set(err, -e, "%s %s: %s", opt, file, strerror(e));
    *len = (size_t)n;
    return 0;
}

/* The value of the environment variable var; opt names the option in messages. */
static int read_env(const char *var, const char *opt, uint8_t *buf, size_t *len,
                    struct img_err *err)
{
    const char *v = getenv(var);
    if (!v)
        return err_set(err, -ENOKEY, "%s: %s is not set", opt, var);
    if (strlen(v) > IMG_SECRET_MAX)
        return err_set(err, -EINVAL, "%s: %s is longer than %u bytes", opt, var, IMG_SECRET_MAX);
    *len = strlen(v);
    memcpy(buf, v, *len);
    return 0;
}

/* Read one line from the terminal with echo off. */
static int prompt_line(int tty, const char *prompt, uint8_t *buf, size_t *len)
{
    struct termios old, quiet;
    if (write(tty, prompt, strlen(prompt)) < 0 || tcgetattr(tty, &old) < 0)
        return -errno;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    quiet.c_lflag |= ICANON;
    if (tcsetattr(tty, TCSAFLUSH, &quiet) < 0)
        return -errno;
    size_t n = 0;
    int r = 0;
    for (;;) {
        uint8_t ch;
        ssize_t k = read(tty, &ch, 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0 || ch == '\n')
            break;
        if (n == IMG_SECRET_MAX) {
            r = -E2BIG;
            continue;
        }
        buf[n++] = ch;
    }
    tcsetattr(tty, TCSAFLUSH, &old);
    if (write(tty, "\n", 1) < 0)
        r = r ? r : -errno;
    *len = n;
    return r;
}

/* "LABEL PATH: " on the terminal, asked twice when confirm; without a terminal the error
 * names file_opt and env_opt. */
static int prompt(const char *label, const char *path, bool confirm, const char *file_opt,
                  const char *env_opt, uint8_t *buf, size_t *len, struct img_err *err)
{
    if (secret_no_prompt)
        return err_set(err, -ENOKEY,
                       "no password given (start dimg with --password-file FILE "
                       "or --password-env VAR)");
    int tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (tty < 0)
        return err_set(err, -ENOKEY,
                       "no password given (use %s FILE or %s VAR, or run on a terminal)", file_opt,
                       env_opt);
    char msg[1200];
    snprintf(msg, sizeof msg, "%s %s: ", label, path);
    int r = prompt_line(tty, msg, buf, len);
    if (r == 0 && confirm) {
        uint8_t *again = crypto_secure_alloc(IMG_SECRET_MAX);
        size_t n2 = 0;
        r = again ? prompt_line(tty, "Password again: ", again, &n2) : -ENOMEM;
        if (r == 0 && (n2 != *len || !crypto_equal(again, buf, n2)))
            r = err_set(err, -EINVAL, "the passwords do not match");
        crypto_secure_free(again, IMG_SECRET_MAX);
    }
    close(tty);
    if (r < 0 && !err->code)
        err_set(err, r, "reading the password: %s", r == -E2BIG ? "too long" : strerror(-r));
    return r;
}

static int secret_get(void *ctx, const char *path, uint8_t *buf, size_t cap, size_t *len,
                      struct img_err *err)
{
    if (!secret_buf) {
        /* No core dump, no ptrace by other users' tools, while a password is in memory. */
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        if (!(secret_buf = crypto_secure_alloc(IMG_SECRET_MAX)))
            return err_set(err, -ENOMEM, "out of memory");
        int r;
        struct stat st;
        if (secret_file)
            r = read_file(secret_file, "--password-file", secret_buf, &secret_len, err);
        else if (secret_env)
            r = read_env(secret_env, "--password-env", secret_buf, &secret_len, err);
        else if (stat(path, &st) < 0) /* a new image: ask twice */
            r = prompt("Password for new image", path, true, "--password-file", "--password-env",
                       secret_buf, &secret_len, err);
        else
            r = prompt("Password for", path, false, "--password-file", "--password-env", secret_buf,
                       &secret_len, err);
        if (r < 0) {
            secret_wipe();
            return r;
        }
    }
    if (secret_len > cap)
        return err_set(err, -EINVAL, "password longer than %zu bytes", cap);
    memcpy(buf, secret_buf, secret_len);
    *len = secret_len;
    return 0;
}

int cli_secret_read(const char *file, const char *file_opt, const char *env, const char *env_opt,
                    const char *label, const char *path, bool confirm, uint8_t *buf, size_t *len,
                    struct img_err *err)
{
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (file)
        return read_file(file, file_opt, buf, len, err);
    if (env)
        return read_env(env, env_opt, buf, len, err);
    return prompt(label, path, confirm, file_opt, env_opt, buf, len, err);
}

bool cli_secret_given(void)
{
    return secret_file || secret_env;
}

/* Take --password-file/--password-env (also as --opt=value) out of argv wherever they
 * appear before "--", so that every command accepts them; install the provider. */
int cli_secret_args(int *argc, char **argv)
{
    int out = 1;
    bool rest = false;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL, *val = NULL;
        if (!rest && !strcmp(a, "--"))
            rest = true;
        if (!rest && !strcmp(a, "--force-unlock")) {
            luks_set_unlock_unbounded(true); /* past LUKS_UNLOCK_ITER_MAX (core/crypto/luks.h) */
            continue;
        }
        if (!rest && !strncmp(a, "--password-file", 15) && (a[15] == 0 || a[15] == '='))
            dst = &secret_file;
        else if (!rest && !strncmp(a, "--password-env", 14) && (a[14] == 0 || a[14] == '='))
            dst = &secret_env;
        if (!dst) {
            argv[out++] = argv[i];
            continue;
        }
        const char *eq = strchr(a, '=');
        if (eq)
            val = eq + 1;
        else if (i + 1 < *argc)
            val = argv[++i];
        if (!val || !*val)
            return cli_usage_err(NULL, "%.15s needs an argument", a);
        *dst = val;
    }
    argv[out] = NULL;
    *argc = out;
    if (secret_file && secret_env)
        return cli_usage_err(NULL, "--password-file and --password-env exclude each other");
    img_set_secret_provider(secret_get, NULL);
    atexit(secret_wipe);
    return 0;
}

/* Ask for the password now (in the main thread, before a job draws progress) when the
 * source image is encrypted or the options ask for encryption. */
void cli_secret_prepare(const char *src, const char *fmt, const struct img_opts *opts)
{
    bool want = false;
    for (size_t i = 0; opts && i < opts->n; i++)
        if (!strcmp(opts->kv[i].key, "encrypt.format") ||
            (!strcmp(opts->kv[i].key, "encryption") && strcmp(opts->kv[i].val, "off")))
            want = true;
    if (!want && src) {
        struct img_err err = {0};
        /* A peek only: the operation's own open takes the locks and warns. */
        struct img *img = img_open(src, fmt, cli_open_flags | IMG_OPEN_FORCE_SHARE, &err);
        struct img_info info;
        memset(&info, 0, sizeof info);
        if (img && img_get_info(img, &info) == 0)
            want = info.encrypted;
        img_close(img);
    }
    if (want) {
        uint8_t *b = crypto_secure_alloc(IMG_SECRET_MAX);
        size_t n;
        struct img_err err = {0};
        if (b)
            img_get_secret(src ? src : "", b, IMG_SECRET_MAX, &n, &err);
        crypto_secure_free(b, IMG_SECRET_MAX);
    }
}

/* One warning line when the options ask for QEMU's legacy AES, as qemu does. */
void cli_secret_warn_weak(const struct img_opts *opts)
{
    for (size_t i = 0; opts && i < opts->n; i++)
        if ((!strcmp(opts->kv[i].key, "encrypt.format") && !strcmp(opts->kv[i].val, "aes")) ||
            (!strcmp(opts->kv[i].key, "encryption") && strcmp(opts->kv[i].val, "off"))) {
            cli_err("warning: legacy qcow AES encryption is weak (no key derivation, predictable "
                    "IVs); use encrypt.format=luks with qcow2");
            return;
        }
}
