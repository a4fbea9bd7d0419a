/*
 * streamctl.c - the streamctl command: finds the subcommand and answers the
 * top-level --help and --version.  Every subcommand lives in its own file
 * (ctl_*.c) and works only through the mount's extended attributes, so it
 * needs no connection to the daemon and no privileges of its own.
 */
#include "ctl.h"
#include "tool.h"

#include <stdio.h>
#include <string.h>

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "info", ctl_info, "show what a topic, stream or blob holds" },
	{ "policy", ctl_policy, "list or set the policies of a stream" },
	{ "create-topic", ctl_create_topic, "create empty topics" },
	{ "seek", ctl_seek, "turn a message offset or a time into a byte offset" },
	{ "export", ctl_export, "write streams and topics to a backup file" },
	{ "import", ctl_import, "restore a backup file as a new stream" },
	{ "tail", ctl_tail, "print messages from an offset or a time, or follow" },
	{ "consume", ctl_consume, "print what a consumer group has not seen, commit" },
	{ "groups", ctl_groups, "list consumer groups, their cursors and lag" },
	{ "group", ctl_group, "delete a consumer group's cursor" },
	{ "stats", ctl_stats, "topics, rates and consumer lag of a stream, or follow them" },
	{ "replica", ctl_replica, "manage replication links; move a topic's home here" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(void)
{
	printf("Usage: streamctl COMMAND [OPTIONS] ARGS...\n"
	       "       streamctl --help | --version\n"
	       "\n"
	       "Manage the streams and topics of a streamfs mount, through the\n"
	       "mount itself (extended attributes user.streamfs.*).\n"
	       "\n"
	       "Commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		printf("  %-14s %s\n", commands[i].name, commands[i].summary);
	printf("\n"
	       "'streamctl COMMAND --help' describes a command.\n"
	       "Exit status: 0 success, 1 an operation failed, 2 bad usage.\n");
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* "streamctl help [COMMAND]" is "streamctl COMMAND --help". */
static int help(int argc, char **argv)
{
	const struct command *cmd;
	char *args[] = { NULL, "--help", NULL };

	if (argc < 2) {
		usage();
		return 0;
	}
	cmd = find_command(argv[1]);
	if (!cmd)
		return tool_usage_error(NULL, "unknown command '%s'", argv[1]);
	args[0] = argv[1];
	return cmd->run(2, args);
}

static int dispatch(int argc, char **argv)
{
	const struct command *cmd;

	if (argc < 2)
		return tool_usage_error(NULL, "no command given");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage();
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("streamctl %s\n", tool_version);
		return 0;
	}
	if (!strcmp(argv[1], "help"))
		return help(argc - 1, argv + 1);
	if (argv[1][0] == '-')
		return tool_usage_error(NULL, "unknown option '%s'", argv[1]);
	cmd = find_command(argv[1]);
	if (!cmd)
		return tool_usage_error(NULL, "unknown command '%s'", argv[1]);
	return cmd->run(argc - 1, argv + 1);
}

int main(int argc, char **argv)
{
	tool_name = "streamctl";
	return tool_finish(dispatch(argc, argv));
}
