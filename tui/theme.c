/* SPDX-License-Identifier: GPL-2.0-or-later */
/* theme.c: the theme loader declared in theme.h: lookup through the XDG and install
 * directories, a bounded line parser for the .theme format (themes/README.md), `inherit`
 * chains, `@element` references, colour tiers and their downgrade, and the glyph table.
 *
 * Parsing is in two steps so that `inherit` may appear anywhere in [theme]: each file is first
 * read into a struct file_spec of its own (what the file says), then its parent is loaded into
 * the shared context and the file's entries are laid over it. Colours stay unresolved specs
 * ("default" = the `default` element's colour, `@x` = another element) until every file is
 * in, so a child that only changes `default` recolours everything it inherited.
 *
 * Talks to: libc; the embedded texts of themes/default.theme and themes/mono.theme, generated
 * by themes/embed.cmake into theme_builtin.c.
 */
#include "tui/theme.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Generated from themes/NAME.theme at configure time (themes/embed.cmake). */
extern const unsigned char theme_builtin_default[], theme_builtin_mono[];
extern const size_t theme_builtin_default_len, theme_builtin_mono_len;

enum { TIER_BASE, TIER_256, TIER_TRUE, TIER_COUNT };

/* "default" inside an element other than `default`: that element's colour, so a theme that
 * sets a background once gets it everywhere. Never leaves this file. */
#define COLOR_DEFREL (-2)

#define X_NAME(e, name, attrs) name,
static const char *const elem_names[THEME_E_COUNT] = {THEME_ELEMS(X_NAME)};
#undef X_NAME
#define X_ATTR(e, name, attrs) attrs,
static const unsigned elem_fallback[THEME_E_COUNT] = {THEME_ELEMS(X_ATTR)};
#undef X_ATTR
#define X_GNAME(g, name, utf8, ascii) name,
static const char *const glyph_names[THEME_G_COUNT] = {THEME_GLYPHS(X_GNAME)};
#undef X_GNAME
#define X_GFORMS(g, name, utf8, ascii) {utf8, ascii},
static const char *const glyph_default[THEME_G_COUNT][2] = {THEME_GLYPHS(X_GFORMS)};
#undef X_GFORMS

/* One colour entry as written: fg/bg are COLOR_DEFREL, 0-255 or rgb; ref >= 0 for @element. */
struct spec {
    bool set;
    int ref;
    int32_t fg, bg;
    unsigned attrs;
    unsigned file; /* index into ctx.files, for warnings */
    unsigned line;
};

/* What one file says, before its parent is loaded under it. */
struct file_spec {
    char name[THEME_NAME_MAX];
    char inherit[256];
    unsigned inherit_line;
    struct spec sp[TIER_COUNT][THEME_E_COUNT];
    bool gset[THEME_G_COUNT];
    char glyph[THEME_G_COUNT][2][THEME_GLYPH_MAX];
};

struct ctx {
    struct theme *t;
    struct spec sp[TIER_COUNT][THEME_E_COUNT]; /* the inherit chain so far */
    char *files[THEME_INHERIT_MAX + 2];        /* display names, for warnings */
    unsigned nfiles;
    char *stack[THEME_INHERIT_MAX + 2]; /* identities being loaded (cycle check) */
    unsigned depth;
    size_t dropped; /* warnings over THEME_WARN_MAX */
};

/* ---- names ---- */

const char *theme_elem_name(enum theme_elem e)
{
    return (unsigned)e < THEME_E_COUNT ? elem_names[e] : NULL;
}

int theme_elem_find(const char *name)
{
    for (int i = 0; i < THEME_E_COUNT; i++)
        if (!strcasecmp(name, elem_names[i]))
            return i;
    return -1;
}

const char *theme_glyph_name(enum theme_glyph g)
{
    return (unsigned)g < THEME_G_COUNT ? glyph_names[g] : NULL;
}

int theme_glyph_find(const char *name)
{
    for (int i = 0; i < THEME_G_COUNT; i++)
        if (!strcasecmp(name, glyph_names[i]))
            return i;
    return -1;
}

/* ---- warnings ---- */

static void warn_add(struct ctx *c, const char *fname, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void warn_add(struct ctx *c, const char *fname, unsigned line, const char *fmt, ...)
{
    struct theme *t = c->t;
    if (t->nwarn >= THEME_WARN_MAX) {
        c->dropped++;
        return;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *w = NULL;
    int n = line ? asprintf(&w, "%s:%u: %s", fname, line, msg) : asprintf(&w, "%s: %s", fname, msg);
    char **nw = n < 0 ? NULL : realloc(t->warnings, (t->nwarn + 1) * sizeof *nw);
    if (!nw) { /* out of memory: a lost warning is harmless */
        free(n < 0 ? NULL : w);
        return;
    }
    t->warnings = nw;
    t->warnings[t->nwarn++] = w;
}

/* ---- colours ---- */

static const char *const color_names[8] = {"black", "red",     "green", "yellow",
                                           "blue",  "magenta", "cyan",  "white"};

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower(ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* default | black..white | brightblack..brightwhite | 0-255 | #rrggbb */
static bool parse_color(const char *s, int32_t *out)
{
    if (!strcasecmp(s, "default")) {
        *out = COLOR_DEFREL;
        return true;
    }
    bool bright = !strncasecmp(s, "bright", 6);
    for (int i = 0; i < 8; i++)
        if (!strcasecmp(bright ? s + 6 : s, color_names[i])) {
            *out = i + (bright ? 8 : 0);
            return true;
        }
    if (s[0] == '#') {
        uint32_t v = 0;
        for (int i = 1; i <= 6; i++) {
            int h = hexval((unsigned char)s[i]);
            if (h < 0)
                return false;
            v = v << 4 | (uint32_t)h;
        }
        if (s[7])
            return false;
        *out = THEME_RGB_FLAG | (int32_t)v;
        return true;
    }
    if (!*s || strlen(s) > 3)
        return false;
    int v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
    }
    if (v > 255)
        return false;
    *out = v;
    return true;
}

static const uint8_t cube_value[6] = {0x00, 0x5f, 0x87, 0xaf, 0xd7, 0xff};

/* The cube level nearest to v (the midpoints between cube_value entries). */
static int cube_level(int v)
{
    if (v < 48)
        return 0;
    if (v < 115)
        return 1;
    return (v - 35) / 40;
}

static int dist2(int r1, int g1, int b1, int r2, int g2, int b2)
{
    return (r1 - r2) * (r1 - r2) + (g1 - g2) * (g1 - g2) + (b1 - b2) * (b1 - b2);
}

/* Nearest xterm-256 entry: the 6x6x6 cube or the 24-step grey ramp, whichever is closer
 * (the same choice tmux makes); the terminal-defined 0-15 are never picked. */
static int rgb_to_256(uint32_t rgb)
{
    int r = rgb >> 16 & 0xff, g = rgb >> 8 & 0xff, b = rgb & 0xff;
    int qr = cube_level(r), qg = cube_level(g), qb = cube_level(b);
    int cube = 16 + 36 * qr + 6 * qg + qb;
    int cr = cube_value[qr], cg = cube_value[qg], cb = cube_value[qb];
    if (cr == r && cg == g && cb == b)
        return cube;
    int avg = (r + g + b) / 3;
    int gi = avg < 8 ? 0 : (avg - 8 + 5) / 10; /* grey 232+i is 8 + 10*i */
    if (gi > 23)
        gi = 23;
    int gv = 8 + 10 * gi;
    return dist2(gv, gv, gv, r, g, b) < dist2(cr, cg, cb, r, g, b) ? 232 + gi : cube;
}

/* A grey level 0-255 as one of black, bright black, white, bright white. */
static int grey_to_16(int v)
{
    if (v < 0x30)
        return 0;
    if (v < 0x80)
        return 8;
    return v < 0xe0 ? 7 : 15;
}

/* 16-255 -> 0-15, keeping the hue: a component counts when it is within one cube level of
 * the strongest one; the strongest at level 4-5 makes the bright variant. All three counting
 * is a grey. (Nearest-by-distance would turn dark blues into black.) */
static int c256_to_16(int c)
{
    if (c < 16)
        return c;
    if (c >= 232)
        return grey_to_16(8 + 10 * (c - 232));
    int l[3] = {(c - 16) / 36, (c - 16) / 6 % 6, (c - 16) % 6};
    int m = l[0] > l[1] ? l[0] : l[1];
    if (l[2] > m)
        m = l[2];
    if (m == 0)
        return 0;
    int th = m > 1 ? m - 1 : 1;
    int bits = (l[0] >= th) | (l[1] >= th) << 1 | (l[2] >= th) << 2;
    if (bits == 7)
        return grey_to_16((cube_value[l[0]] + cube_value[l[1]] + cube_value[l[2]]) / 3);
    return bits + (m >= 4 ? 8 : 0);
}

int32_t theme_downgrade(int32_t color, int colors)
{
    if (color < 0)
        return THEME_COLOR_DEFAULT;
    if (colors < 8)
        return THEME_COLOR_DEFAULT;
    if (theme_is_rgb(color)) {
        if (colors >= THEME_TRUECOLOR)
            return color;
        color = rgb_to_256((uint32_t)color & 0xffffff);
    } else if (color > 255) {
        return THEME_COLOR_DEFAULT;
    }
    if (colors >= 256)
        return color;
    color = c256_to_16(color);
    if (colors >= 16)
        return color;
    return color & 7;
}

/* ---- choosing ---- */

const char *theme_choose(const char *opt_theme, bool no_color_env, bool has_colors)
{
    if (opt_theme && *opt_theme)
        return opt_theme;
    if (no_color_env || !has_colors)
        return "mono";
    return "default";
}

bool theme_env_no_color(void)
{
    const char *v = getenv("NO_COLOR");
    return v && *v;
}

bool theme_want_utf8(bool ascii)
{
    const char *cs = nl_langinfo(CODESET);
    return !ascii && cs && (!strcmp(cs, "UTF-8") || !strcmp(cs, "utf8"));
}

/* ---- lookup ---- */

const char *theme_builtin(const char *name, size_t *len)
{
    if (!strcmp(name, "default")) {
        *len = theme_builtin_default_len;
        return (const char *)theme_builtin_default;
    }
    if (!strcmp(name, "mono")) {
        *len = theme_builtin_mono_len;
        return (const char *)theme_builtin_mono;
    }
    return NULL;
}

static bool is_path(const char *s)
{
    size_t n = strlen(s);
    return strchr(s, '/') || (n >= 6 && !strcmp(s + n - 6, ".theme"));
}

static bool valid_name(const char *s)
{
    if (!*s || *s == '.')
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return false;
    return true;
}

/* "dir/foo.theme" -> "foo" (the name a file without `name =` gets). */
static void name_from_path(const char *path, char *out, size_t outlen)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t n = strlen(base);
    if (n >= 6 && !strcmp(base + n - 6, ".theme"))
        n -= 6;
    snprintf(out, outlen, "%.*s", (int)n, base);
}

/* A stable identity for the cycle check: the real path, or "builtin:NAME". */
static char *theme_identity(int kind, const char *path)
{
    char *id = NULL;
    if (kind == THEME_FOUND_BUILTIN) {
        if (asprintf(&id, "builtin:%s", path) < 0)
            id = NULL;
        return id;
    }
    id = realpath(path, NULL);
    return id ? id : strdup(path);
}

static bool in_stack(const struct ctx *c, int kind, const char *path)
{
    if (!c)
        return false;
    char *id = theme_identity(kind, path);
    bool found = false;
    for (unsigned i = 0; id && i < c->depth; i++)
        found |= !strcmp(c->stack[i], id);
    free(id);
    return found;
}

static bool regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}

/* Try dir/NAME.theme; dir may be NULL or empty (skipped). */
static bool try_dir(const char *dir, const char *sub, const char *name, const struct ctx *skip,
                    char *path, size_t pathlen)
{
    if (!dir || dir[0] != '/') /* XDG: relative entries are invalid and ignored */
        return false;
    int n = snprintf(path, pathlen, "%s%s/%s.theme", dir, sub, name);
    if (n < 0 || (size_t)n >= pathlen)
        return false;
    return regular_file(path) && !in_stack(skip, THEME_FOUND_FILE, path);
}

#ifdef DIMG_REL_THEME_DIR
/* The install prefix the running binary sits in: PREFIX when it is PREFIX/bin/dimg. So a copy
 * installed with DESTDIR, moved, or unpacked with dpkg -x finds its own themes; a binary in a
 * build directory (not under a bin/) finds none, and no source or build path is compiled in. */
static bool exe_prefix(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0 || (size_t)n >= len - 1)
        return false;
    buf[n] = 0;
    char *slash = strrchr(buf, '/');
    size_t bl = strlen(DIMG_REL_BINDIR);
    if (!slash || (size_t)(slash - buf) < bl || strncmp(slash - bl, DIMG_REL_BINDIR, bl) != 0)
        return false;
    slash[-(ptrdiff_t)bl] = 0;
    return buf[0] == '/';
}
#endif

/* The lookup walk of theme_find; skip (may be NULL) passes over themes already being loaded,
 * so ~/.config/dimg/themes/default.theme can say `inherit = default` and get the shipped one. */
static int find_theme(const char *name, const struct ctx *skip, char *path, size_t pathlen)
{
    if (is_path(name)) {
        struct stat st;
        if (strlen(name) >= pathlen)
            return -ENAMETOOLONG;
        if (stat(name, &st) != 0)
            return -errno;
        snprintf(path, pathlen, "%s", name);
        return THEME_FOUND_FILE;
    }
    if (!valid_name(name))
        return -EINVAL;
    if (strlen(name) >= THEME_NAME_MAX || pathlen < THEME_NAME_MAX)
        return -ENAMETOOLONG;

    const char *cfg = getenv("XDG_CONFIG_HOME");
    if (cfg && cfg[0] == '/') {
        if (try_dir(cfg, "/dimg/themes", name, skip, path, pathlen))
            return THEME_FOUND_FILE;
    } else if (try_dir(getenv("HOME"), "/.config/dimg/themes", name, skip, path, pathlen)) {
        return THEME_FOUND_FILE;
    }

    const char *dd = getenv("XDG_DATA_DIRS");
    if (!dd || !*dd)
        dd = "/usr/local/share:/usr/share";
    while (*dd) {
        size_t n = strcspn(dd, ":");
        char dir[PATH_MAX];
        if (n > 0 && n < sizeof dir) {
            memcpy(dir, dd, n);
            dir[n] = 0;
            if (try_dir(dir, "/dimg/themes", name, skip, path, pathlen))
                return THEME_FOUND_FILE;
        }
        dd += n + (dd[n] == ':');
    }
#ifdef DIMG_REL_THEME_DIR
    char prefix[PATH_MAX];
    if (exe_prefix(prefix, sizeof prefix) &&
        try_dir(prefix, DIMG_REL_THEME_DIR, name, skip, path, pathlen))
        return THEME_FOUND_FILE;
#endif
#ifdef DIMG_THEME_DIR
    if (try_dir(DIMG_THEME_DIR, "", name, skip, path, pathlen))
        return THEME_FOUND_FILE;
#endif
    size_t len;
    if (theme_builtin(name, &len) && !in_stack(skip, THEME_FOUND_BUILTIN, name)) {
        snprintf(path, pathlen, "%s", name);
        return THEME_FOUND_BUILTIN;
    }
    return -ENOENT;
}

int theme_find(const char *name_or_path, char *path, size_t pathlen)
{
    return find_theme(name_or_path, NULL, path, pathlen);
}

/* Read a whole regular file of at most THEME_FILE_MAX bytes. */
static int read_bounded(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    *buf = NULL;
    /* O_NONBLOCK: a FIFO given as a theme must not hang the start-up. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    int r = 0;
    if (fstat(fd, &st) != 0) {
        r = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(-r));
    } else if (!S_ISREG(st.st_mode)) {
        r = -EINVAL;
        snprintf(err, errlen, "%s: not a regular file", path);
    } else if (st.st_size > THEME_FILE_MAX) {
        r = -EFBIG;
    }
    char *b = r ? NULL : malloc(THEME_FILE_MAX + 1);
    if (!r && !b) {
        r = -ENOMEM;
        snprintf(err, errlen, "%s: out of memory", path);
    }
    size_t got = 0;
    while (!r && got <= THEME_FILE_MAX) { /* the size may change under us: read to the cap */
        ssize_t n = read(fd, b + got, THEME_FILE_MAX + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            snprintf(err, errlen, "%s: %s", path, strerror(-r));
        } else if (n == 0) {
            break;
        }
        got += n > 0 ? (size_t)n : 0;
    }
    if (!r && got > THEME_FILE_MAX)
        r = -EFBIG;
    if (r == -EFBIG)
        snprintf(err, errlen, "%s: larger than %d KiB, not a theme file", path,
                 THEME_FILE_MAX / 1024);
    close(fd);
    if (r) {
        free(b);
        return r;
    }
    *buf = b;
    *len = got;
    return 0;
}

/* ---- line parser ---- */

enum section {
    SEC_NONE,
    SEC_THEME,
    SEC_COLORS,
    SEC_COLORS_256,
    SEC_COLORS_TRUE,
    SEC_GLYPHS,
    SEC_UNKNOWN
};

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = 0;
    return s;
}

/* Cut a comment: a '#' that starts the line, or one between blanks ("x  # why"). A '#' glued
 * to text is data (#rrggbb, the '#' glyph); quotes protect anything. */
static void strip_comment(char *s)
{
    bool inq = false, lead = true;
    for (char *p = s; *p; p++) {
        if (*p == '"')
            inq = !inq;
        if (inq || *p != '#') {
            if (*p != ' ' && *p != '\t')
                lead = false;
            continue;
        }
        if (lead || ((p[-1] == ' ' || p[-1] == '\t') && (p[1] == ' ' || p[1] == '\t'))) {
            *p = 0;
            return;
        }
        lead = false;
    }
}

static bool parse_attr(const char *s, unsigned *attrs)
{
    static const struct {
        const char *name;
        unsigned bit;
    } tab[] = {{"bold", THEME_A_BOLD},
               {"dim", THEME_A_DIM},
               {"reverse", THEME_A_REVERSE},
               {"underline", THEME_A_UNDERLINE}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcasecmp(s, tab[i].name)) {
            *attrs |= tab[i].bit;
            return true;
        }
    return false;
}

/* `fg bg [attrs]` or `@element [attrs]`; false (with a warning) skips the line. */
static bool parse_color_entry(struct ctx *c, const char *fname, unsigned fidx, unsigned line,
                              int tier, const char *key, char *val, struct spec *out)
{
    struct spec s = {
        .set = true, .ref = -1, .fg = COLOR_DEFREL, .bg = COLOR_DEFREL, .file = fidx, .line = line};
    int ncolor = 0, ntok = 0;
    char *save = NULL;
    for (char *tok = strtok_r(val, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        int32_t col;
        if (ntok++ == 0 && tok[0] == '@') {
            s.ref = theme_elem_find(tok + 1);
            if (s.ref < 0) {
                warn_add(c, fname, line, "%s: unknown element '%s' in the reference", key, tok + 1);
                return false;
            }
            ncolor = -1; /* only attributes may follow */
        } else if (parse_attr(tok, &s.attrs)) {
        } else if (ncolor >= 0 && parse_color(tok, &col)) {
            if (ncolor == 2) {
                warn_add(c, fname, line, "%s: more than two colours ('%s')", key, tok);
                return false;
            }
            *(ncolor++ ? &s.bg : &s.fg) = col;
        } else {
            warn_add(c, fname, line, "%s: '%s' is not a colour%s", key, tok,
                     ncolor < 0 ? " (a reference takes attributes only)" : " or attribute");
            return false;
        }
    }
    if (!ntok) {
        warn_add(c, fname, line, "%s: no value", key);
        return false;
    }
    /* The base tier must work on 8-colour terminals, where bright backgrounds blink or turn
     * into something else entirely (mc#3050). */
    if (tier == TIER_BASE && s.bg >= 8 && s.bg <= 15) {
        warn_add(c, fname, line,
                 "%s: bright background in [colors]; using %s (put it in [colors.256])", key,
                 color_names[s.bg - 8]);
        s.bg -= 8;
    }
    *out = s;
    return true;
}

/* A glyph must be printable UTF-8 (no controls, no overlong or surrogate forms). */
static bool utf8_printable(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned ch = s[i], len, cp;
        if (ch < 0x80) {
            if (ch < 0x20 || ch == 0x7f)
                return false;
            i++;
            continue;
        }
        if (ch >= 0xc2 && ch <= 0xdf) {
            len = 2;
            cp = ch & 0x1f;
        } else if (ch >= 0xe0 && ch <= 0xef) {
            len = 3;
            cp = ch & 0x0f;
        } else if (ch >= 0xf0 && ch <= 0xf4) {
            len = 4;
            cp = ch & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (unsigned k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
            return false;
        i += len;
    }
    return true;
}

/* One side of `utf8 | ascii`: trimmed, or the inside of "quotes" (for blanks, '|', '#'). */
static bool glyph_side(char *s, bool ascii, char *out)
{
    s = trim(s);
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s++;
        n -= 2;
    } else if (memchr(s, '"', n)) {
        return false;
    }
    if (n == 0 || n >= THEME_GLYPH_MAX || !utf8_printable((const unsigned char *)s, n))
        return false;
    for (size_t i = 0; ascii && i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return false;
    memcpy(out, s, n);
    out[n] = 0;
    return true;
}

static void parse_glyph(struct ctx *c, const char *fname, unsigned line, const char *key, char *val,
                        struct file_spec *fs)
{
    int g = theme_glyph_find(key);
    if (g < 0) {
        warn_add(c, fname, line, "unknown glyph '%s'", key);
        return;
    }
    char *bar = NULL;
    bool inq = false;
    for (char *p = val; *p && !bar; p++) {
        if (*p == '"')
            inq = !inq;
        else if (*p == '|' && !inq)
            bar = p;
    }
    char u[THEME_GLYPH_MAX], a[THEME_GLYPH_MAX];
    bool ok;
    if (bar) {
        *bar = 0;
        ok = glyph_side(val, false, u) && glyph_side(bar + 1, true, a);
    } else { /* one ASCII form serves both */
        ok = glyph_side(val, true, a);
        memcpy(u, a, sizeof u);
    }
    if (!ok) {
        warn_add(c, fname, line,
                 "%s: expected 'utf8 | ascii' (printable, at most %d bytes each, ASCII on the "
                 "right; quote blanks, '|' and '#')",
                 key, THEME_GLYPH_MAX - 1);
        return;
    }
    fs->gset[g] = true;
    memcpy(fs->glyph[g][0], u, sizeof u);
    memcpy(fs->glyph[g][1], a, sizeof a);
}

static void parse_theme_key(struct ctx *c, const char *fname, unsigned line, const char *key,
                            const char *val, struct file_spec *fs)
{
    if (!strcasecmp(key, "name") || !strcasecmp(key, "inherit")) {
        bool name = !strcasecmp(key, "name");
        size_t cap = name ? sizeof fs->name : sizeof fs->inherit;
        if (!*val || strlen(val) >= cap ||
            !utf8_printable((const unsigned char *)val, strlen(val))) {
            warn_add(c, fname, line, "%s: empty, too long or unprintable", key);
            return;
        }
        snprintf(name ? fs->name : fs->inherit, cap, "%s", val);
        if (!name)
            fs->inherit_line = line;
    } else if (strcasecmp(key, "description")) {
        warn_add(c, fname, line, "unknown key '%s' in [theme] (name, inherit, description)", key);
    }
}

static enum section parse_section(const char *s)
{
    static const struct {
        const char *name;
        enum section sec;
    } tab[] = {{"theme", SEC_THEME},
               {"colors", SEC_COLORS},
               {"colors.256", SEC_COLORS_256},
               {"colors.truecolor", SEC_COLORS_TRUE},
               {"glyphs", SEC_GLYPHS}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcasecmp(s, tab[i].name))
            return tab[i].sec;
    return SEC_UNKNOWN;
}

static void parse_lines(struct ctx *c, const char *buf, size_t len, const char *fname,
                        unsigned fidx, struct file_spec *fs)
{
    enum section sec = SEC_NONE;
    unsigned lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *s = buf + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl != NULL);
        lineno++;
        if (n > THEME_LINE_MAX) {
            warn_add(c, fname, lineno, "line longer than %d bytes, skipped", THEME_LINE_MAX);
            continue;
        }
        if (memchr(s, 0, n)) {
            warn_add(c, fname, lineno, "NUL byte, line skipped");
            continue;
        }
        char line[THEME_LINE_MAX + 1];
        memcpy(line, s, n);
        line[n] = 0;
        if (n && line[n - 1] == '\r')
            line[n - 1] = 0;
        strip_comment(line);
        char *l = trim(line);
        if (!*l)
            continue;
        if (*l == '[') {
            size_t ln = strlen(l);
            if (l[ln - 1] != ']') {
                warn_add(c, fname, lineno, "section header without ']'");
                sec = SEC_UNKNOWN;
                continue;
            }
            l[ln - 1] = 0;
            sec = parse_section(trim(l + 1));
            if (sec == SEC_UNKNOWN)
                warn_add(c, fname, lineno, "unknown section [%s], its entries are ignored",
                         trim(l + 1));
            continue;
        }
        char *eq = strchr(l, '=');
        if (!eq) {
            warn_add(c, fname, lineno, "expected 'name = value'");
            continue;
        }
        *eq = 0;
        char *key = trim(l), *val = trim(eq + 1);
        if (!*key) {
            warn_add(c, fname, lineno, "missing name before '='");
            continue;
        }
        switch (sec) {
        case SEC_NONE: warn_add(c, fname, lineno, "'%s' outside a section", key); break;
        case SEC_UNKNOWN: break;
        case SEC_THEME: parse_theme_key(c, fname, lineno, key, val, fs); break;
        case SEC_GLYPHS: parse_glyph(c, fname, lineno, key, val, fs); break;
        case SEC_COLORS:
        case SEC_COLORS_256:
        case SEC_COLORS_TRUE: {
            int tier = sec == SEC_COLORS ? TIER_BASE : sec == SEC_COLORS_256 ? TIER_256 : TIER_TRUE;
            int e = theme_elem_find(key);
            struct spec sp;
            if (e < 0)
                warn_add(c, fname, lineno, "unknown element '%s'", key);
            else if (parse_color_entry(c, fname, fidx, lineno, tier, key, val, &sp))
                fs->sp[tier][e] = sp;
            break;
        }
        }
    }
}

/* ---- loading a chain ---- */

static void load_text(struct ctx *c, const char *buf, size_t len, const char *fname, const char *id,
                      const char *dflt_name);

/* Lay fs over the chain: an element a file sets in some tier replaces what the parents said
 * for it in that tier and every richer one, so a child's [colors] entry is not hidden by a
 * parent's [colors.256] entry on 256-colour terminals. */
static void apply_file(struct ctx *c, const struct file_spec *fs, const char *dflt_name)
{
    snprintf(c->t->name, sizeof c->t->name, "%s", fs->name[0] ? fs->name : dflt_name);
    for (int e = 0; e < THEME_E_COUNT; e++) {
        bool seen = false;
        for (int tier = 0; tier < TIER_COUNT; tier++) {
            if (fs->sp[tier][e].set) {
                seen = true;
                c->sp[tier][e] = fs->sp[tier][e];
            } else if (seen) {
                c->sp[tier][e].set = false;
            }
        }
    }
    for (int g = 0; g < THEME_G_COUNT; g++)
        if (fs->gset[g])
            memcpy(c->t->glyph[g], fs->glyph[g], sizeof fs->glyph[g]);
}

/* The directory part of fname joined to a relative inherit path. */
static void inherit_path(const char *fname, const char *inh, char *out, size_t outlen)
{
    const char *slash = strrchr(fname, '/');
    if (inh[0] == '/' || !is_path(inh) || !slash || fname[0] == '(')
        snprintf(out, outlen, "%s", inh);
    else
        snprintf(out, outlen, "%.*s/%s", (int)(slash - fname), fname, inh);
}

static void load_parent(struct ctx *c, const struct file_spec *fs, const char *fname)
{
    unsigned line = fs->inherit_line;
    if (c->depth > THEME_INHERIT_MAX) {
        warn_add(c, fname, line, "inherit: chain deeper than %d themes, '%s' ignored",
                 THEME_INHERIT_MAX, fs->inherit);
        return;
    }
    char want[PATH_MAX], path[PATH_MAX], err[PATH_MAX + 64];
    inherit_path(fname, fs->inherit, want, sizeof want);
    int kind = find_theme(want, c, path, sizeof path);
    if (kind == THEME_FOUND_FILE && in_stack(c, kind, path)) /* an explicit path */
        kind = -ELOOP;
    if (kind == -ELOOP || (kind == -ENOENT && theme_find(want, path, sizeof path) >= 0)) {
        warn_add(c, fname, line, "inherit: '%s' is already being loaded (a cycle), ignored",
                 fs->inherit);
        return;
    }
    if (kind < 0) {
        warn_add(c, fname, line, "inherit: theme '%s' not found", fs->inherit);
        return;
    }
    char *id = theme_identity(kind, path);
    if (!id)
        return;
    if (kind == THEME_FOUND_BUILTIN) {
        size_t len = 0;
        const char *text = theme_builtin(path, &len);
        char shown[THEME_NAME_MAX + 32];
        snprintf(shown, sizeof shown, "(built-in %.63s.theme)", path);
        load_text(c, text, len, shown, id, path);
    } else {
        char *buf;
        size_t len;
        if (read_bounded(path, &buf, &len, err, sizeof err) < 0) {
            warn_add(c, fname, line, "inherit: %s", err);
        } else {
            char dflt[THEME_NAME_MAX];
            name_from_path(path, dflt, sizeof dflt);
            load_text(c, buf, len, path, id, dflt);
            free(buf);
        }
    }
    free(id);
}

static void load_text(struct ctx *c, const char *buf, size_t len, const char *fname, const char *id,
                      const char *dflt_name)
{
    if (c->nfiles >= sizeof c->files / sizeof c->files[0] ||
        c->depth >= sizeof c->stack / sizeof c->stack[0])
        return;
    struct file_spec *fs = calloc(1, sizeof *fs);
    char *fn = strdup(fname), *sid = strdup(id);
    if (!fs || !fn || !sid) {
        free(fs);
        free(fn);
        free(sid);
        return;
    }
    unsigned fidx = c->nfiles++;
    c->files[fidx] = fn;
    c->stack[c->depth++] = sid;
    parse_lines(c, buf, len, fn, fidx, fs);
    if (fs->inherit[0])
        load_parent(c, fs, fn);
    apply_file(c, fs, dflt_name);
    free(c->stack[--c->depth]);
    free(fs);
}

/* ---- resolving ---- */

struct resolver {
    struct ctx *c;
    int colors;
    const struct spec *eff[THEME_E_COUNT];
    int tier[THEME_E_COUNT];
    int state[THEME_E_COUNT]; /* 0 new, 1 in progress, 2 done */
    struct theme_color out[THEME_E_COUNT];
};

static void resolve_elem(struct resolver *r, int e)
{
    if (r->state[e] == 2)
        return;
    r->state[e] = 1;
    const struct spec *s = r->eff[e];
    struct theme_color col = {COLOR_DEFREL, COLOR_DEFREL, elem_fallback[e]};
    if (s && s->ref >= 0) {
        if (r->state[s->ref] == 1) {
            warn_add(r->c, r->c->files[s->file], s->line,
                     "%s = @%s: a reference cycle; using the default colours", elem_names[e],
                     elem_names[s->ref]);
            col.attrs |= s->attrs;
        } else {
            resolve_elem(r, s->ref);
            col = r->out[s->ref];
            col.attrs |= s->attrs;
        }
    } else if (s) {
        col.fg = s->fg;
        col.bg = s->bg;
        col.attrs = s->attrs;
    }
    if (col.fg == COLOR_DEFREL || col.bg == COLOR_DEFREL) {
        struct theme_color d = {THEME_COLOR_DEFAULT, THEME_COLOR_DEFAULT, 0};
        if (e != THEME_E_DEFAULT && r->state[THEME_E_DEFAULT] != 1) {
            resolve_elem(r, THEME_E_DEFAULT);
            d = r->out[THEME_E_DEFAULT];
        }
        if (col.fg == COLOR_DEFREL)
            col.fg = d.fg;
        if (col.bg == COLOR_DEFREL)
            col.bg = d.bg;
    }
    /* 16 at least here: the 8-colour step (bright fg -> bold) is done once, at the end. */
    int cap = r->colors < 16 ? 16 : r->colors;
    col.fg = theme_downgrade(col.fg, cap);
    col.bg = theme_downgrade(col.bg, cap);
    if (s && s->ref < 0 && s->bg != COLOR_DEFREL && r->tier[e] == TIER_BASE && col.bg >= 8 &&
        col.bg <= 15)
        col.bg -= 8; /* a base-tier number or rgb that came out bright: same rule as names */
    r->out[e] = col;
    r->state[e] = 2;
}

static void resolve(struct ctx *c, int colors)
{
    struct resolver *r = calloc(1, sizeof *r);
    if (!r)
        return;
    r->c = c;
    r->colors = colors;
    int ntiers = colors >= THEME_TRUECOLOR ? 3 : colors >= 256 ? 2 : 1;
    for (int e = 0; e < THEME_E_COUNT; e++)
        for (int tier = ntiers - 1; tier >= 0 && !r->eff[e]; tier--)
            if (c->sp[tier][e].set) {
                r->eff[e] = &c->sp[tier][e];
                r->tier[e] = tier;
            }
    for (int e = 0; e < THEME_E_COUNT; e++)
        resolve_elem(r, e);
    for (int e = 0; e < THEME_E_COUNT; e++) {
        struct theme_color col = r->out[e];
        if (colors < 8) { /* no colour at all: the attributes must carry everything */
            col.fg = col.bg = THEME_COLOR_DEFAULT;
            col.attrs |= elem_fallback[e];
        } else if (colors < 16) { /* bright foregrounds become bold, as tmux does */
            if (col.fg >= 8) {
                col.fg -= 8;
                col.attrs |= THEME_A_BOLD;
            }
            if (col.bg >= 8)
                col.bg -= 8;
        }
        c->t->c[e] = col;
    }
    free(r);
}

/* ---- entry points ---- */

static void theme_init(struct theme *t, int colors, bool utf8)
{
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "fallback");
    t->colors = colors < 8 ? 0 : colors;
    t->utf8 = utf8;
    for (int e = 0; e < THEME_E_COUNT; e++)
        t->c[e] = (struct theme_color){THEME_COLOR_DEFAULT, THEME_COLOR_DEFAULT, elem_fallback[e]};
    for (int g = 0; g < THEME_G_COUNT; g++)
        for (int k = 0; k < 2; k++)
            snprintf(t->glyph[g][k], THEME_GLYPH_MAX, "%s", glyph_default[g][k]);
}

static void run(struct theme *t, const char *buf, size_t len, const char *fname, const char *id,
                const char *dflt_name, int colors)
{
    struct ctx *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->t = t;
    load_text(c, buf, len, fname, id, dflt_name);
    resolve(c, colors);
    if (c->dropped) {
        char *w = NULL;
        char **nw = realloc(t->warnings, (t->nwarn + 1) * sizeof *nw);
        if (nw) {
            t->warnings = nw;
            if (asprintf(&w, "%s: %zu more warnings not shown", fname, c->dropped) >= 0)
                t->warnings[t->nwarn++] = w;
        }
    }
    for (unsigned i = 0; i < c->nfiles; i++)
        free(c->files[i]);
    free(c);
}

int theme_parse_buf(struct theme *t, const char *buf, size_t len, const char *fname, int colors,
                    bool utf8)
{
    theme_init(t, colors, utf8);
    if (len > THEME_FILE_MAX)
        return -EFBIG;
    char dflt[THEME_NAME_MAX];
    name_from_path(fname, dflt, sizeof dflt);
    char *id = theme_identity(THEME_FOUND_FILE, fname);
    run(t, buf, len, fname, id ? id : fname, dflt, colors);
    free(id);
    return 0;
}

int theme_load(struct theme *t, const char *name_or_path, int colors, bool utf8, char *err,
               size_t errlen)
{
    char path[PATH_MAX];
    theme_init(t, colors, utf8);
    int kind = theme_find(name_or_path, path, sizeof path);
    if (kind == -EINVAL) {
        snprintf(err, errlen, "theme name '%s': use letters, digits, '.', '_' and '-', or a path",
                 name_or_path);
        return kind;
    }
    if (kind < 0) {
        snprintf(err, errlen, "theme '%s' not found: %s", name_or_path, strerror(-kind));
        return kind;
    }
    if (kind == THEME_FOUND_BUILTIN) {
        size_t len = 0;
        const char *text = theme_builtin(path, &len);
        char shown[THEME_NAME_MAX + 32], id[THEME_NAME_MAX + 16];
        snprintf(shown, sizeof shown, "(built-in %.63s.theme)", path);
        snprintf(id, sizeof id, "builtin:%.63s", path);
        run(t, text, len, shown, id, path, colors);
        return 0;
    }
    char *buf;
    size_t len;
    int r = read_bounded(path, &buf, &len, err, errlen);
    if (r < 0)
        return r;
    r = theme_parse_buf(t, buf, len, path, colors, utf8);
    free(buf);
    return r;
}

void theme_free(struct theme *t)
{
    for (size_t i = 0; i < t->nwarn; i++)
        free(t->warnings[i]);
    free(t->warnings);
    t->warnings = NULL;
    t->nwarn = 0;
}
