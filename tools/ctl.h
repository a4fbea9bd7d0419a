/*
 * ctl.h - the subcommands of streamctl.  Each takes the arguments after
 * "streamctl" (argv[0] is the subcommand's name), answers --help itself,
 * and returns the exit status (tool.h).
 */
#ifndef STREAMFS_CTL_H
#define STREAMFS_CTL_H

#include <stddef.h>

int ctl_info(int argc, char **argv);
int ctl_policy(int argc, char **argv);
int ctl_create_topic(int argc, char **argv);
int ctl_seek(int argc, char **argv);
int ctl_export(int argc, char **argv);
int ctl_import(int argc, char **argv);
int ctl_groups(int argc, char **argv);
int ctl_group(int argc, char **argv);
int ctl_tail(int argc, char **argv);
int ctl_consume(int argc, char **argv);
int ctl_stats(int argc, char **argv);
int ctl_replica(int argc, char **argv);

/* The stream policies, in the order they are listed. */
#define CTL_POLICY_COUNT 6
extern const char *const ctl_policy_names[CTL_POLICY_COUNT];

/* Read every policy of stream PATH into VALUES, in the order of
 * ctl_policy_names (malloc'd; release with ctl_free_policies()).  0, or
 * TOOL_FAIL after one error line about PATH (VALUES then holds nothing). */
int ctl_read_policies(const char *path, char *values[CTL_POLICY_COUNT]);
void ctl_free_policies(char *values[CTL_POLICY_COUNT]);

#endif
