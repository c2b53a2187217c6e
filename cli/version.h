/* SPDX-License-Identifier: GPL-2.0-or-later */
/* version.h: the version dimg reports (--version): CMake's project version and, when built
 * from a git checkout, the commit. Defined in the build's generated/version.c, which
 * cmake/version.cmake writes at every build. Used by cli.c. */
#ifndef DIMG_CLI_VERSION_H
#define DIMG_CLI_VERSION_H

/* "0.1.0" or "0.1.0 (git 0123456789ab)" or "... (git 0123456789ab-dirty)". */
const char *dimg_version_string(void);

#endif
