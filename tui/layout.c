/* SPDX-License-Identifier: GPL-2.0-or-later */
/* layout.c: the screen split (see layout.h): beside from 100x20, below from 60x18 with room
 * for at least eight list rows, else the list alone; and the scrolling-list arithmetic that
 * every list screen shares.
 * Talks to: keymap.h (action names).
 */
#include "tui/layout.h"

#include <stdio.h>

struct layout layout_compute(int w, int h, bool info_wanted)
{
    struct layout l = {0};
    if (w < LAYOUT_MIN_W || h < LAYOUT_MIN_H) {
        l.mode = LAYOUT_TOO_SMALL;
        l.body = (struct rect){0, 0, w > 0 ? w : 0, h > 0 ? h : 0};
        return l;
    }
    l.header = (struct rect){0, 0, w, 1};
    l.fbar = (struct rect){0, h - 1, w, 1};
    l.status = (struct rect){0, h - 2, w, 1};
    l.body = (struct rect){0, 1, w, h - 3};
    l.list = l.body;
    if (!info_wanted) {
        l.mode = LAYOUT_LIST;
    } else if (w >= 100 && l.body.h >= 8) {
        /* The list keeps enough room for its columns; the info pane gets the rest. */
        int lw = w * 55 / 100;
        if (lw < 60)
            lw = 60;
        l.mode = LAYOUT_BESIDE;
        l.list.w = lw;
        l.info = (struct rect){lw, l.body.y, w - lw, l.body.h};
    } else if (w >= 60 && h >= 18) {
        int ih = l.body.h * 2 / 5;
        if (l.body.h - ih < 8)
            ih = l.body.h - 8;
        l.mode = LAYOUT_BELOW;
        l.list.h = l.body.h - ih;
        l.info = (struct rect){0, l.body.y + l.list.h, w, ih};
    } else {
        l.mode = LAYOUT_LIST;
    }
    return l;
}

int layout_fkey_x(int w, int f, int *label_w)
{
    /* Keys 1-9 share what "10Quit" leaves, at most a digit, six letters and a blank each. */
    int sw = (w - 6) / 9;
    if (sw > 8)
        sw = 8;
    if (sw < 2)
        sw = 2;
    int x = (f - 1) * sw, lw = sw - 2;
    if (f >= 10) {
        x = 9 * sw;
        lw = w - x - 2 < 4 ? w - x - 2 : 4;
    }
    if (label_w)
        *label_w = lw > 0 ? lw : 0;
    return x;
}

const int layout_browser_col_w[5] = {8, 10, 10, 5, 6};

int layout_browser_cols(int w, int *name_w)
{
    int n = 5, sum = 0;
    for (int i = 0; i < n; i++)
        sum += layout_browser_col_w[i];
    while (n > 0 && w - sum < LAYOUT_NAME_MIN)
        sum -= layout_browser_col_w[--n];
    if (name_w)
        *name_w = w - sum > 0 ? w - sum : 0;
    return n;
}

bool list_key(size_t *cur, size_t n, int rows, enum km_action act)
{
    size_t page = rows > 1 ? (size_t)rows : 1, c = *cur;
    switch (act) {
    case KM_A_UP: c = c ? c - 1 : 0; break;
    case KM_A_DOWN: c = c + 1; break;
    case KM_A_PGUP: c = c > page ? c - page : 0; break;
    case KM_A_PGDN: c = c + page; break;
    case KM_A_HOME: c = 0; break;
    case KM_A_END: c = n ? n - 1 : 0; break;
    default: return false;
    }
    if (n == 0)
        c = 0;
    else if (c >= n)
        c = n - 1;
    *cur = c;
    return true;
}

size_t list_top(size_t cur, size_t top, size_t n, int rows)
{
    size_t r = rows > 1 ? (size_t)rows : 1;
    if (n && cur >= n)
        cur = n - 1;
    if (cur < top)
        top = cur;
    if (cur >= top + r)
        top = cur - r + 1;
    /* A list that shrank (a filter, cleared jobs) does not leave the screen half empty. */
    if (n > r && top > n - r)
        top = n - r;
    if (n <= r)
        top = 0;
    return top;
}

void list_position(char *buf, size_t bufn, size_t cur, size_t n)
{
    snprintf(buf, bufn, "%zu/%zu", n ? (cur < n ? cur + 1 : n) : 0, n);
}

bool list_move(struct list *l, size_t n, int rows, enum km_action act)
{
    return list_key(&l->cur, n, rows, act);
}

void list_place(struct list *l, size_t n, int rows)
{
    if (l->cur >= n && n)
        l->cur = n - 1;
    l->top = list_top(l->cur, l->top, n, rows);
}

bool list_scroll(struct list *l, size_t n, int rows, size_t page, enum km_action act)
{
    size_t r = rows > 1 ? (size_t)rows : 1, last = n > r ? n - r : 0, t = l->top;
    switch (act) {
    case KM_A_UP: t = t ? t - 1 : 0; break;
    case KM_A_DOWN: t = t + 1; break;
    case KM_A_PGUP: t = t > page ? t - page : 0; break;
    case KM_A_PGDN: t = t + page; break;
    case KM_A_HOME: t = 0; break;
    case KM_A_END: t = last; break;
    default: return false;
    }
    l->top = t < last ? t : last;
    return true;
}
