/*
 * cli.h — what the ctrain tool's files share: the commands and their help pages.
 *
 * Each command is `int cmd_x(int argc, char **argv)` with argv[0] the command's name; it returns
 * the process exit status (args.h: 0 ok, 1 library error, 2 usage, 130 interrupted) after
 * freeing everything it created. Only this tool prints and exits; the library returns statuses.
 */
#ifndef CTRAIN_CLI_H
#define CTRAIN_CLI_H

#include <stdio.h>

#ifndef CTRAIN_VERSION_STRING
#define CTRAIN_VERSION_STRING "0.1.0" /* keep in step with project(VERSION) in CMakeLists.txt */
#endif

int cmd_train(int argc, char **argv);   /* train_cmd.c */
int cmd_data(int argc, char **argv);    /* data_cmd.c */
int cmd_devices(int argc, char **argv); /* data_cmd.c */

void train_help(FILE *f);
void data_help(FILE *f);
void devices_help(FILE *f);

/* 1 when the four MNIST files (raw or .gz) are in dir. */
int mnist_files_present(const char *dir);
/* ct_data_fetch_mnist's log: one line on stderr. */
void cli_log_line(const char *line, void *user);

#endif /* CTRAIN_CLI_H */
