/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cancel.h: the cancel flag of the work running on this thread, for code deep below an
 * operation that has no progress struct to poll: a LUKS unlock reached from an image open or
 * a first read spends seconds in PBKDF2 and polls it between key slots. The job engine
 * attaches each job's flag to its worker for the job's duration; the application's unlock
 * worker attaches its own. No flag attached: never cancelled.
 */
#ifndef DIMG_CANCEL_H
#define DIMG_CANCEL_H

#include <stdatomic.h>
#include <stdbool.h>

/* Attach flag (non-zero: stop) to this thread; NULL detaches. */
void cancel_attach(atomic_int *flag);
/* The flag attached to this thread is set. */
bool cancel_requested(void);

#endif
