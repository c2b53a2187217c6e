/* cli.h: the command-line face: one function per command, dispatched by cli_main. Each
 * command parses its options like qemu-img, calls core/, and prints results and errors. */
#ifndef DIMG_CLI_H
#define DIMG_CLI_H

int cli_main(int argc, char **argv);

#endif
