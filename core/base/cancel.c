/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cancel.c: the per-thread cancel flag of cancel.h. */
#include "core/base/cancel.h"

#include <stddef.h>

static _Thread_local atomic_int *cancel_flag;

void cancel_attach(atomic_int *flag)
{
    cancel_flag = flag;
}

bool cancel_requested(void)
{
    return cancel_flag && atomic_load(cancel_flag) != 0;
}
