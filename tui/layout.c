/* layout.c: the screen split (see layout.h): beside from 100x20, below from 60x18 with room
 * for at least eight list rows, else the list alone.
 * Talks to: nothing.
 */
#include "tui/layout.h"

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
