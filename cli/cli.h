/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli.h: the command-line face: one function per command (the cli/ commands), dispatched by
 * cli_main, plus the helpers they share (error lines, buffered stdout,
 * option parsing). Each command parses its options like qemu-img, calls core/ (img.h, ops.h)
 * and prints results; every failure is one "dimg: MESSAGE" line on stderr.
 */
#ifndef DIMG_CLI_H
#define DIMG_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct img;

/* The interactive application, as the command line starts it (no command word, and after
 * dimg demo): main.c wires tui/'s entry points (tui/tui.h) in, so that the command line
 * includes nothing of the application. */
struct cli_app {
    /* The application's option at argv[*i]: 1 taken (*i on its last word), 0 not its own,
     * -1 malformed (*why says what). */
    int (*take_opt)(int argc, char **argv, int *i, const char **why);
    /* Run it in dir; untrusted: --untrusted was given; ask_password: no password was. */
    int (*run)(const char *dir, bool untrusted, bool ask_password);
};
int cli_main(int argc, char **argv, const struct cli_app *app);

/* A command: its word, its function (argv[0] is the command name; returns the process exit
 * status), its line in `dimg --help` and its `dimg COMMAND --help` text. Command NAME is
 * cli_cmd_NAME, defined in its own file (cli/NAME.c) beside its parser and registered by one
 * line in cli.c's CLI_COMMANDS. */
struct cli_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
    const char *usage;
};

/* Passwords (cli/secret.c): take --password-file/--password-env out of argv and install the
 * password source; 0 or a usage error status. */
int cli_secret_args(int *argc, char **argv);
struct img_opts;
/* Ask for the password before a job starts when src is encrypted or opts ask for encryption. */
void cli_secret_prepare(const char *src, const char *fmt, const struct img_opts *opts);
/* No terminal prompt from now on (the interactive application). */
void cli_secret_no_prompt(void);
/* Another password (dimg amend's new and old ones) into buf (IMG_SECRET_MAX bytes, locked by
 * the caller): FILE's bytes, the variable env, or else a prompt "LABEL PATH: " on the
 * terminal (twice when confirm); *_opt name the options in messages. 0 or -errno with err. */
struct img_err;
int cli_secret_read(const char *file, const char *file_opt, const char *env, const char *env_opt,
                    const char *label, const char *path, bool confirm, uint8_t *buf, size_t *len,
                    struct img_err *err);
/* --password-file or --password-env was given. */
bool cli_secret_given(void);
/* The interactive application in dir, with its password box unless a password was given. */
int cli_tui_run(const char *dir);
/* The warning line for -o encrypt.format=aes / encryption=on. */
void cli_secret_warn_weak(const struct img_opts *opts);

/* IMG_OPEN_* flags every open adds (--untrusted). */
extern unsigned cli_open_flags;

/* Print "dimg: MESSAGE" on stderr (one line). */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error: one line naming the command's --help; returns 1 (the exit status). */
int cli_usage_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print the usage text of cmd on stdout; returns 0. */
int cli_help(const char *cmd);

/* getopt_long with our own one-line messages: returns the option, -1 at the end, or '?'
 * after reporting a bad option (the caller returns 1). */
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts);

/* --output=human|json; returns 0 or a usage error status. */
int cli_parse_output(const char *cmd, const char *arg, bool *json);

/* Results are written to a memory stream and only reach stdout when the command succeeded,
 * so a failure half-way never leaves partial output. */
FILE *cli_out_begin(void);
void cli_out_commit(void);
/* The same for human output: cli_out_commit escapes it (cli_write_escaped). */
FILE *cli_out_begin_text(void);
void cli_out_discard(void);
/* Write len bytes of human text to f with every byte that is not printable UTF-8 escaped
 * (core/base/esc.h), newlines kept: the last guard between image metadata and the terminal. */
void cli_write_escaped(FILE *f, const char *buf, size_t len);

#endif
